SOURCE = "timeline-svc"
