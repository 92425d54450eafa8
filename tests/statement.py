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

# Exercise 6 (bonus). Parameters: 9 numbers, (h1.w1, h1.w2, h1.b, h2.w1, h2.w2, h2.b, o1.w1, o1.w2, o1.b).
EX6_PARAMETER_NAMES = ["h1.w1", "h1.w2", "h1.b", "h2.w1", "h2.w2", "h2.b", "o1.w1", "o1.w2", "o1.b"]
EX6_EX4_PARAMS = [0.05, 0.001, 0, 0.02, 0.003, 0, 2, 0, 0]  # exercise 4's weights
# Q1: gradients(EX6_EX4_PARAMS, MATH, CHEMISTRY, EXAM_SUCCESS), raw grades
EX6_Q1 = [-0.043945686638109105, -0.2319801603233767, 0.023344296233464523, 0.0, 0.0, 0.0,
          0.017240193662985674, 0.01814398735728312, 0.039674686314846025]
# Q2: log loss after train(EX6_START, standardised MATH, standardised CHEMISTRY, EXAM_SUCCESS, 0.5, 200);
# standardised = (x - mean) / population standard deviation over the four students (np.std).
EX6_START = [0.13, -0.13, 0.64, 0.1, -0.54, 0.36, 1.3, 0.95, -0.7]  # np.round(default_rng(0).normal(0, 1, 9), 2)
EX6_LEARNING_RATE, EX6_STEPS = 0.5, 200
EX6_Q2 = 0.04482146441689092
