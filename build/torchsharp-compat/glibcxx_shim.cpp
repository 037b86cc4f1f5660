// Defines the one libstdc++ symbol (GLIBCXX_3.4.32, GCC 13+) that TorchSharp 0.107's
// libLibTorchSharp.so needs and Debian 12's libstdc++ (GCC 12) lacks.
#include <ios>
namespace std {
void ios_base_library_init() { static ios_base::Init init; }
}
