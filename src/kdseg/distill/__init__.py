"""Distillation stages that are not a training loop: the teacher-ensemble pseudo-labels of paper 004."""
