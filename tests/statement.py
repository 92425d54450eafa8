"""The statement's inputs and graded numbers (../shared/SPEC.md), as the tests' own copy."""

EX1 = 0.9990889488055994
EX2 = 0.9524917424084265
EX3_Y_TRUE = [0, 1, 1, 0, 1]
EX3_Y_PRED = [0.1, 0.8, 0.6, 0.5, 0.3]
EX3 = 0.5472899351247816

STUDENTS = ["Bob", "Eli", "Tom", "Ryan"]
MATH = [12, 10, 18, 13]
CHEMISTRY = [15, 9, 18, 14]
EXAM_SUCCESS = [1, 0, 1, 1]
PHYSICS = [16, 10, 19, 16]

EX4_Q1 = {"Bob": 0.7855253278357536, "Eli": 0.7771516558846259,
          "Tom": 0.8067873659804015, "Ryan": 0.7892343955586032}
EX4_Q2 = 0.5485133607757963
EX5_Q1 = 7
EX5_Q2 = {"Bob": 14.918863163724454, "Eli": 14.83137890625537,
          "Tom": 15.086662606964074, "Ryan": 14.939270885974128}
EX5_Q3 = 10.237608699909138

REL = 1e-9  # relative tolerance for every comparison (SPEC.md, "About the digits")
