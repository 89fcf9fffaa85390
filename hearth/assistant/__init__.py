"""Hearth AI's personal assistant: an agent loop whose tools are Hearth's services acting as the
asking person. Reads run at once; writes become proposals that wait for the person's approval;
everything the model reads from the app reaches it marked as quoted data."""
