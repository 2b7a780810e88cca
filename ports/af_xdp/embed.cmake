# Turns a file into a C array: cmake -DIN=obj -DOUT=file.c -DNAME=sym -P embed.cmake
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" n)
math(EXPR len "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE ${OUT} "/* Generated from ${IN} at build time. */\n#include <stddef.h>\n"
     "const unsigned char ${NAME}[] __attribute__((aligned(8))) = {${bytes}};\n"
     "const size_t ${NAME}_len = ${len};\n")
