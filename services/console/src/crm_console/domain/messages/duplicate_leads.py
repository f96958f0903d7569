"""Texts of the duplicate leads screen (seed 000 "לידים כפולים")."""

MESSAGES: dict[str, tuple[str, str]] = {
    "dl.title": ("Duplicate leads", "לידים כפולים"),
    "dl.intro": (
        "Leads kept because a card with the same identifying details exists. "
        "Promote one to a card of its own, merge it into the found card, or dismiss it.",
        "לידים שנשמרו משום שקיים כרטיס עם אותם פרטי זיהוי. ניתן להפוך ליד לכרטיס עצמאי, למזג אותו לכרטיס שנמצא, או לבטל אותו.",
    ),
    "dl.col.lead": ("Lead", "ליד"),
    "dl.col.details": ("Phones and e-mails", "טלפונים ודוא״ל"),
    "dl.col.channel": ("Channel", "ערוץ"),
    "dl.col.received": ("Received", "התקבל"),
    "dl.col.found": ("Found card", "הכרטיס שנמצא"),
    "dl.col.actions": ("Actions", "פעולות"),
    "dl.channel.ui": ("Typed in by hand", "הוקלד ידנית"),
    "dl.open_found": ("Open card", "פתיחת הכרטיס"),
    "dl.unnamed": ("(no name)", "(ללא שם)"),
    "dl.promote": ("Promote to a card", "הפיכה לכרטיס"),
    "dl.merge": ("Merge into the found card", "מיזוג לכרטיס שנמצא"),
    "dl.dismiss": ("Dismiss", "ביטול הליד"),
    "dl.action_for": ("{action}: {name}", "{action}: {name}"),
    "dl.promoted": ("Promoted to a card of its own.", "הליד הפך לכרטיס עצמאי."),
    "dl.merged": ("Merged into the found card.", "הליד מוזג לכרטיס שנמצא."),
    "dl.merged_nothing": ("Merged: the found card already had every detail.", "מוזג: בכרטיס שנמצא כבר היו כל הפרטים."),
    "dl.dismissed": ("Dismissed.", "הליד בוטל."),
    "dl.open_new": ("Open the new card", "פתיחת הכרטיס החדש"),
    "dl.none": ("No duplicate leads.", "אין לידים כפולים."),
    "dl.next": ("Next page", "העמוד הבא"),
    "dl.first": ("First page", "העמוד הראשון"),
    "dl.gone": ("This lead was already handled.", "הליד הזה כבר טופל."),
}
