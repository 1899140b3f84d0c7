/* A full disk on demand, for the reliability tests (tests/hardening.rs).
 *
 * Preloaded into steward (LD_PRELOAD), it counts every write, positioned
 * write, fsync and fallocate to a regular file, and from the ENOSPC_FROM-th
 * one on makes each fail with ENOSPC — the disk fills at that write and
 * stays full until the process exits. Pipes and terminals are not counted
 * or failed, so error messages still get out. ENOSPC_COUNT_FILE receives the
 * number of such calls at exit (to know how many points there are to try);
 * ENOSPC_DEBUG names a file to log each call's target to.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

static atomic_long calls;
static long fail_from = -1;

static int full(int fd) {
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
    if (fail_from < 0) {
        const char *s = getenv("ENOSPC_FROM");
        fail_from = s ? atol(s) : 0;
    }
    long n = atomic_fetch_add(&calls, 1) + 1;
    const char *dbg = getenv("ENOSPC_DEBUG");
    if (dbg) {
        char p[64], t[512]; snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
        ssize_t l = readlink(p, t, sizeof t - 1); if (l < 0) l = 0; t[l] = 0;
        FILE *f = fopen(dbg, "a"); if (f) { fprintf(f, "%ld %s%s\n", n, t, (fail_from > 0 && n >= fail_from) ? " FAIL" : ""); fclose(f); }
    }
    if (fail_from > 0 && n >= fail_from) { errno = ENOSPC; return 1; }
    return 0;
}

__attribute__((destructor)) static void report(void) {
    const char *p = getenv("ENOSPC_COUNT_FILE");
    if (p) { FILE *f = fopen(p, "w"); if (f) { fprintf(f, "%ld\n", atomic_load(&calls)); fclose(f); } }
}

#define REAL(name, ret, ...) static ret (*real_##name)(__VA_ARGS__); if (!real_##name) real_##name = dlsym(RTLD_NEXT, #name)

ssize_t write(int fd, const void *b, size_t n) { REAL(write, ssize_t, int, const void *, size_t); if (full(fd)) return -1; return real_write(fd, b, n); }
ssize_t pwrite64(int fd, const void *b, size_t n, off_t o) { REAL(pwrite64, ssize_t, int, const void *, size_t, off_t); if (full(fd)) return -1; return real_pwrite64(fd, b, n, o); }
ssize_t pwrite(int fd, const void *b, size_t n, off_t o) { REAL(pwrite, ssize_t, int, const void *, size_t, off_t); if (full(fd)) return -1; return real_pwrite(fd, b, n, o); }
ssize_t writev(int fd, const struct iovec *v, int c) { REAL(writev, ssize_t, int, const struct iovec *, int); if (full(fd)) return -1; return real_writev(fd, v, c); }
ssize_t pwritev(int fd, const struct iovec *v, int c, off_t o) { REAL(pwritev, ssize_t, int, const struct iovec *, int, off_t); if (full(fd)) return -1; return real_pwritev(fd, v, c, o); }
int fsync(int fd) { REAL(fsync, int, int); if (full(fd)) return -1; return real_fsync(fd); }
int fdatasync(int fd) { REAL(fdatasync, int, int); if (full(fd)) return -1; return real_fdatasync(fd); }
int fallocate64(int fd, int m, off_t o, off_t l) { REAL(fallocate64, int, int, int, off_t, off_t); if (full(fd)) return -1; return real_fallocate64(fd, m, o, l); }
