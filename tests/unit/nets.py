"""Small networks shared by the unit tests (not a test module)."""

# A tiny network: conv 4*9+4 = 40 params, bn 8 (+8 buffers), dense 64*10+10 = 650.
TINY_NET = """\
network tiny(classes = 10)
input x: 1 x 8 x 8
conv3x3(4) -> bn -> relu -> maxpool2 -> flatten -> fc: dense(classes)
"""
