/* LD_PRELOAD shim for MagicBlock's ephemeral validator.
 *
 * The validator raises RLIMIT_NOFILE to ~1,000,000 at start and exits if that fails. Where the hard
 * limit is lower (and cannot be raised without root privileges over the container), clamp the
 * request to the hard limit instead: the validator needs a few hundred descriptors on a local stack.
 * Every other resource goes to the kernel unchanged. */
#define _GNU_SOURCE
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

static int raw_prlimit(int resource, const struct rlimit *new_limit, struct rlimit *old_limit) {
    return (int)syscall(SYS_prlimit64, 0, resource, new_limit, old_limit);
}

int setrlimit(__rlimit_resource_t resource, const struct rlimit *rlim) {
    if (resource == RLIMIT_NOFILE && rlim != 0) {
        struct rlimit cur;
        if (raw_prlimit(RLIMIT_NOFILE, 0, &cur) == 0) {
            struct rlimit clamped = *rlim;
            if (clamped.rlim_max > cur.rlim_max) clamped.rlim_max = cur.rlim_max;
            if (clamped.rlim_cur > clamped.rlim_max) clamped.rlim_cur = clamped.rlim_max;
            return raw_prlimit(RLIMIT_NOFILE, &clamped, 0);
        }
    }
    return raw_prlimit(resource, rlim, 0);
}
