def parse(expr):
    note = "😀"; value = eval(expr)
    return value, note
