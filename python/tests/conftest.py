# The package and scripts live one folder up (python/); the tests import them from there.
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
