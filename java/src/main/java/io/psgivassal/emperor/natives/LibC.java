package io.psgivassal.emperor.natives;

import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import com.sun.jna.StringArray;
import com.sun.jna.ptr.IntByReference;

/**
 * Raw glibc entry points (x86_64 Linux). Callers go through the typed wrappers in this package,
 * which check return values and turn errno into {@link NativeException}; nothing outside this
 * package should need this interface.
 */
interface LibC extends Library {
  LibC INSTANCE = Native.load("c", LibC.class);

  // errno values the wrappers treat specially
  int EPERM = 1;
  int ENOENT = 2;
  int ESRCH = 3;
  int EINTR = 4;
  int EBADF = 9;
  int ECHILD = 10;
  int EAGAIN = 11;
  int EPIPE = 32;
  int ECONNABORTED = 103;
  int ECONNRESET = 104;
  int ECONNREFUSED = 111;
  int EINPROGRESS = 115;

  int O_NONBLOCK = 0x800;
  int O_CLOEXEC = 0x80000;
  int F_DUPFD_CLOEXEC = 1030;

  String strerror(int errnum);

  int close(int fd);

  long read(int fd, byte[] buf, long count);

  long write(int fd, byte[] buf, long count);

  int fcntl(int fd, int cmd, int arg);

  int getsid(int pid);

  int getpid();

  int open(String path, int flags);

  // sockets
  int socket(int domain, int type, int protocol);

  int socketpair(int domain, int type, int protocol, int[] sv);

  int connect(int fd, byte[] addr, int addrlen);

  int bind(int fd, byte[] addr, int addrlen);

  int listen(int fd, int backlog);

  int shutdown(int fd, int how);

  int setsockopt(int fd, int level, int optname, int[] optval, int optlen);

  int getsockopt(int fd, int level, int optname, int[] optval, int[] optlen);

  int getsockname(int fd, byte[] addr, int[] addrlen);

  int accept4(int fd, Pointer addr, Pointer addrlen, int flags);

  long send(int fd, byte[] buf, long len, int flags);

  long recv(int fd, byte[] buf, long len, int flags);

  long sendmsg(int fd, Pointer msghdr, int flags);

  long recvmsg(int fd, Pointer msghdr, int flags);

  // processes
  int prctl(int option, long arg2, long arg3, long arg4, long arg5);

  long syscall(long number, Object... args);

  int waitid(int idtype, int id, Pointer siginfo, int options);

  int kill(int pid, int sig);

  int sigemptyset(Pointer set);

  int sigfillset(Pointer set);

  int posix_spawn(IntByReference pid, String path, Pointer fileActions, Pointer attr,
      StringArray argv, StringArray envp);

  int posix_spawn_file_actions_init(Pointer actions);

  int posix_spawn_file_actions_destroy(Pointer actions);

  int posix_spawn_file_actions_adddup2(Pointer actions, int fd, int newfd);

  int posix_spawn_file_actions_addclose(Pointer actions, int fd);

  int posix_spawn_file_actions_addclosefrom_np(Pointer actions, int from);

  int posix_spawnattr_init(Pointer attr);

  int posix_spawnattr_destroy(Pointer attr);

  int posix_spawnattr_setflags(Pointer attr, short flags);

  int posix_spawnattr_setsigmask(Pointer attr, Pointer sigmask);

  int posix_spawnattr_setsigdefault(Pointer attr, Pointer sigdefault);

  // event plumbing
  int epoll_create1(int flags);

  int epoll_ctl(int epfd, int op, int fd, Pointer event);

  int epoll_wait(int epfd, Pointer events, int maxevents, int timeout);

  int eventfd(int initval, int flags);

  // file-system notifications
  int inotify_init1(int flags);

  int inotify_add_watch(int fd, String pathname, int mask);

  int inotify_rm_watch(int fd, int wd);
}
