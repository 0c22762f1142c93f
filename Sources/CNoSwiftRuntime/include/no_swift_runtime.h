// Linked only into Berth's plain-C executables (the shim, the probe); see no_swift_runtime.c.
// Never link it into a Swift executable: it would replace the runtime's own registration.
#ifndef BERTH_NO_SWIFT_RUNTIME_H
#define BERTH_NO_SWIFT_RUNTIME_H
#endif
