// SwiftPM links every executable with swiftc, which adds swiftrt.o: an image constructor that
// registers the image's Swift metadata with the Swift runtime. The shim is plain C and has no
// Swift metadata, so these two no-ops satisfy swiftrt.o and keep the whole Swift runtime
// (about 9 MB, and a dlopen warning in a static link) out of a binary that runs once per job.
struct swift_metadata_sections;

void swift_addNewDSOImage(struct swift_metadata_sections *sections) { (void)sections; }

int _swift_backtrace_isThunkFunction(const char *name) { (void)name; return 0; }
