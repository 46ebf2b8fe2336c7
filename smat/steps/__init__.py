"""The pure, jitted steps, in one place: the teacher's (`teacher`), a student's (`student`),
SMAT's (`meta`), the hypergradient estimators it chooses from by name (`hypergradients`), and
every step's metrics (`metrics`)."""
