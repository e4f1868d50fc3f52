/*
 * proc.h - facts about a live process from /proc.
 *
 * Layer: target.  Process and thread existence, states, executable path
 * and command line.  Nothing here reads target memory.
 */
#ifndef PYSPECT_TARGET_PROC_H
#define PYSPECT_TARGET_PROC_H

#include <stddef.h>
#include <stdint.h>

#include "core/strbuf.h"

/*
 * Check that pid names a live process this user may read.  Returns 0,
 * PS_ENOPROC, PS_EZOMBIE or PS_EPERM (with context set).
 */
int proc_check(int pid);

/*
 * The state letter of a thread from /proc/PID/task/TID/stat ('R'
 * running, 'S' sleeping, 'D' disk wait, 't' traced, 'Z' zombie...), or
 * PS_ENOTFOUND when the thread is gone.
 */
int proc_task_state(int pid, int tid, char *state);

/*
 * A number field of /proc/PID/status (or of /proc/PID/task/TID/status
 * when tid > 0), such as "TracerPid" or "Uid" (the first number on the
 * line: the real id; index picks a later one).  PS_ENOTFOUND when the
 * process, the thread or the field is not there.
 */
int proc_status_field(int pid, int tid, const char *name, int index,
                      long long *out);
/* The same, from the text of a status file. */
int proc_status_parse(const char *text, size_t len, const char *name,
                      int index, long long *out);

/*
 * Whose files the process may read: its filesystem uid and gid and its
 * supplementary groups (/proc/PID/status, in our user namespace).
 */
struct file_creds;
int proc_creds(int pid, struct file_creds *c);
/* The same, from the text of a status file. */
int proc_creds_parse(const char *text, size_t len, struct file_creds *c);

/* The thread ids of pid, sorted ascending.  *tids is malloc'd. */
int proc_tasks(int pid, int **tids, size_t *count);

/* readlink /proc/PID/exe. */
int proc_exe(int pid, struct strbuf *path);

/* The command line, arguments separated by spaces. */
int proc_cmdline(int pid, struct strbuf *out);

/*
 * Is the process exiting (the kernel's PF_EXITING, or gone)?  An exiting
 * process and one in the middle of execve() both lack mappings for a
 * moment; this tells them apart.
 */
int proc_exiting(int pid);

/* The parent pid from /proc/PID/stat. */
int proc_ppid(int pid, int *ppid);

/*
 * The CPU time pid has used (user and system, all its threads, in
 * nanoseconds at the kernel's clock tick resolution) and its resident
 * set size in bytes, from /proc/PID/stat.  PS_ENOTFOUND when gone.
 */
int proc_usage(int pid, uint64_t *cpu_ns, uint64_t *rss_bytes);

/*
 * A process other than exclude whose command line (proc_cmdline) is
 * cmdline, as a supervisor's restart makes one; of several, one whose
 * parent does not match too (the top of a tree of workers), the lowest
 * pid first.  0 and *pid, or PS_ENOTFOUND.
 */
int proc_find_cmdline(const char *cmdline, int exclude, int *pid);

/*
 * Opening a file of the target.  A target in a container (a chroot, its
 * own mount namespace) names files as it sees them: the same name on the
 * host is another file (another glibc, another python3.14) or none.  So
 * pyspect never opens the bare name, always one of these, appended to
 * out:
 *
 * proc_target_path(): a file the target names path: /proc/PID/root/path
 * for an absolute path, /proc/PID/cwd/path for a relative one.
 * PS_ENOTFOUND (nothing appended) when there is no such file there.
 *
 * proc_mapped_path(): the very file mapped at e: /proc/PID/map_files/
 * START-END (which survives the file being replaced or deleted, and needs
 * CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE to open), else the mapping's
 * name through proc_target_path().  PS_ENOTFOUND.
 */
struct map_entry;
int proc_target_path(int pid, const char *path, struct strbuf *out);
int proc_mapped_path(int pid, const struct map_entry *e, struct strbuf *out);

/*
 * The id the process (or thread tid of it) has in its own pid namespace,
 * the last NSpid of /proc/PID[/task/TID]/status: what getpid() and
 * gettid() say inside a container.  tid 0: the process.  PS_ENOTFOUND
 * when gone; a kernel without NSpid gives the host's id.
 */
int proc_ns_id(int pid, int tid, int *inner);

/*
 * What /proc/PID/task/TID/syscall says: the system call a blocked thread
 * is in (*nr, -1 when blocked outside one), its six arguments (into
 * args[0..5] when args is not NULL and *nr >= 0) and its stack and
 * instruction pointers; for a thread on a CPU ("running") *nr is -1 and
 * *sp, *pc 0.  PS_ENOTFOUND when the thread is gone, PS_EPERM.
 */
int proc_task_syscall(int pid, int tid, int64_t *nr, uint64_t *sp,
                      uint64_t *pc, uint64_t *args);
int proc_parse_syscall(const char *text, size_t len, int64_t *nr, uint64_t *sp,
                       uint64_t *pc, uint64_t *args);

/* Parse the state letter out of a /proc/.../stat line. */
int proc_parse_stat_state(const char *stat, size_t len, char *state);

/*
 * Parse the state letter and the thread count (num_threads: of the whole
 * process, in a task's line too) out of a /proc/.../stat line.
 * PS_ECORRUPT when either is missing.
 */
int proc_parse_stat_threads(const char *stat, size_t len, char *state,
                            long *threads);

/*
 * Parse a /proc/.../schedstat line: the CPU time the task has had (ns),
 * the time it waited to run (ns), how many times it was put on a CPU.
 * PS_ECORRUPT unless it holds three numbers.
 */
int proc_parse_schedstat(const char *text, size_t len, uint64_t *cpu_ns,
                         uint64_t *wait_ns, uint64_t *runs);

#endif /* PYSPECT_TARGET_PROC_H */
