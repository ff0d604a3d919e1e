"""The flows of FaceGate (compare, enrolment, login, lockers, voting, access), free of HTTP/CLI."""
