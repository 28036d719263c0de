// Command libsparsegen is sparsegen's C ABI: built with -buildmode=c-shared or c-archive it
// is a library with the header sparsegen.h (see README.md), usable from C, C++ and Python
// (ctypes). As a program it does nothing.
package main

func main() {}
