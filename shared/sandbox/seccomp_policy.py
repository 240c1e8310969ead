"""The seccomp-bpf program every sandboxed process installs before running anything of the
solution's. Compiled here, in the runner, with libseccomp (through pyseccomp, a ctypes binding
to the system's libseccomp.so.2); the child installs the exported program with prctl, so the
child needs nothing beyond the standard library.

Default allow, with a deny list: what a CPU-bound solution never needs and an escape always
does. Denied calls fail with EPERM (clone3 with ENOSYS, so the C library falls back to clone,
whose flags a filter can inspect). A call for another architecture kills the process.
"""
from __future__ import annotations

import errno
import functools
import tempfile

CLONE_THREAD = 0x00010000
# ioctl requests that change inode flags (immutable, append-only) or inject terminal input
FS_IOC_SETFLAGS, FS_IOC32_SETFLAGS, FS_IOC_FSSETXATTR = 0x40086602, 0x40046602, 0x401C5820
TIOCSTI, TIOCLINUX = 0x5412, 0x541C

DENIED = (
    # processes: no exec, no fork (threads are allowed below), no leaving the session
    "execve", "execveat", "fork", "vfork", "setsid", "setpgid",
    # signals and other processes
    "kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "pidfd_open",
    "pidfd_send_signal", "pidfd_getfd", "ptrace", "process_vm_readv", "process_vm_writev",
    "process_madvise", "kcmp",
    # network
    "socket", "socketpair", "connect", "bind", "listen", "accept", "accept4", "sendto", "sendmsg",
    "sendmmsg", "recvfrom", "recvmsg", "recvmmsg", "getsockopt", "setsockopt", "shutdown",
    # namespaces, mounts, the kernel
    "setns", "unshare", "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree",
    "fsopen", "fsmount", "fsconfig", "fspick", "mount_setattr", "open_by_handle_at",
    "name_to_handle_at", "bpf", "perf_event_open", "userfaultfd", "io_uring_setup",
    "io_uring_enter", "io_uring_register", "keyctl", "add_key", "request_key", "kexec_load",
    "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot", "swapon",
    "swapoff", "syslog", "acct", "quotactl", "quotactl_fd", "fanotify_init", "lookup_dcookie",
    "personality", "iopl", "ioperm", "modify_ldt", "uselib", "vhangup", "settimeofday",
    "clock_settime", "clock_adjtime", "adjtimex", "sethostname", "setdomainname",
    # credentials and limits
    "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setgroups",
    "setfsuid", "setfsgid", "capset", "setrlimit", "mknod", "mknodat",
    # System V IPC
    "shmget", "shmat", "shmctl", "msgget", "msgsnd", "msgrcv", "msgctl", "semget", "semop",
    "semctl", "semtimedop",
)


def _rules(f, pyseccomp) -> None:
    eperm = pyseccomp.ERRNO(errno.EPERM)
    for name in DENIED:
        try:
            f.add_rule(eperm, name)
        except (OSError, ValueError, RuntimeError):
            pass  # not a syscall on this architecture (e.g. modify_ldt on aarch64)
    # clone: threads only (a clone without CLONE_THREAD is a fork)
    f.add_rule(eperm, "clone", pyseccomp.Arg(0, pyseccomp.MASKED_EQ, CLONE_THREAD, 0))
    f.add_rule(pyseccomp.ERRNO(errno.ENOSYS), "clone3")
    for request in (FS_IOC_SETFLAGS, FS_IOC32_SETFLAGS, FS_IOC_FSSETXATTR, TIOCSTI, TIOCLINUX):
        f.add_rule(eperm, "ioctl", pyseccomp.Arg(1, pyseccomp.EQ, request))
    # prlimit64: reading one's own limits only (another process of the same uid could be lowered)
    f.add_rule(eperm, "prlimit64", pyseccomp.Arg(0, pyseccomp.NE, 0))
    f.add_rule(eperm, "prlimit64", pyseccomp.Arg(2, pyseccomp.NE, 0))


@functools.lru_cache(maxsize=1)
def compiled_filter() -> bytes:
    """The BPF program (struct sock_filter[]) for this machine's architecture. Raises OSError
    or ImportError when libseccomp is not available: the caller reports the layer missing."""
    import pyseccomp

    f = pyseccomp.SyscallFilter(defaction=pyseccomp.ALLOW)
    _rules(f, pyseccomp)
    with tempfile.TemporaryFile() as tmp:   # export_bpf writes to a real file descriptor
        f.export_bpf(tmp)
        tmp.seek(0)
        program = tmp.read()
    if not program or len(program) % 8:
        raise OSError(f"libseccomp exported a malformed program ({len(program)} bytes)")
    return program
