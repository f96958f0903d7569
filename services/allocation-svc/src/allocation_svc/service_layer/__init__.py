SOURCE = "allocation-svc"
