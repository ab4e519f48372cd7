/* Sanitizer builds only: keeps dynamically loaded plugins mapped until exit.
 *
 * Open MPI loads its components with dlopen and unloads them at MPI_Finalize. Memory
 * those components keep until exit is then reported by LeakSanitizer with
 * "<unknown module>" frames that no suppression can match. Defining dlclose in the
 * executable (exported with --export-dynamic-symbol) interposes on libc's for every
 * library, so the modules stay mapped, their frames stay symbolised, and
 * tests/lsan.supp can suppress third-party allocations by library name while leaks
 * in our own code are still reported. */
int dlclose(void *handle);

int dlclose(void *handle) {
    (void)handle;
    return 0;
}
