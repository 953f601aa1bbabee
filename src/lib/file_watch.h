/* file_watch.h — knowing, without a disk call, that a file has not changed
 * since it was last read.
 *
 * An inotify watch on the file's folder counts the events about the file
 * (its name written, renamed over, removed, its attributes; or an event of
 * the folder itself, or a lost queue). The owner reads the file off the
 * loop as it always did (stat, reload when changed) and confirms with the
 * count taken before that read: the watch is "unchanged" from then on until
 * the next event. Every unchanged() first takes what the kernel queued (a
 * read that never waits, no disk), so an event queued before a client's
 * request is counted before the request is answered.
 *
 * No watch (inotify limits, a file system whose changes may come from
 * another host, a file that is a symlink, has other hard links or is
 * bind-mounted, whose changes the folder would not report): unchanged()
 * is always false and the owner reads the file every time, as without the
 * watch. One thread only (the event loop), but file_watch_plain(), which
 * reads the disk. */
#ifndef SEALPOST_FILE_WATCH_H
#define SEALPOST_FILE_WATCH_H

#include <stdbool.h>
#include <stdint.h>

/* Events read from the kernel at a time. */
#define FILE_WATCH_READ_SIZE 4096
/* A confirmed read is trusted this long at most, events or not: what no
 * event tells (a mount over the file, writes through mmap, a hard link
 * made later and the file edited through it) is seen within it. */
#define FILE_WATCH_TRUST_MS 1000

struct file_watch;

/* A watch for path (its folder must exist); NULL when none can be had,
 * with the reason in *why_r (not an error: the owner just reads the file
 * every time). Starts changed. */
struct file_watch *file_watch_new(const char *path, const char **why_r);
void file_watch_free(struct file_watch **w);

/* True while nothing happened to the file since the last confirmed read,
 * and that read is younger than FILE_WATCH_TRUST_MS. */
bool file_watch_unchanged(struct file_watch *w);

/* The event count, taken before the owner reads the file. */
uint64_t file_watch_mark(struct file_watch *w);

/* Off the loop, with the read: can the folder's events be trusted for the
 * file at path (its folder still the one watched; a regular file with one
 * link that is not a mount point, or no file at all)? w is only read. */
bool file_watch_plain(const struct file_watch *w, const char *path);

/* The owner read the file after mark was taken, and found it plain: it is
 * unchanged from now on, unless an event came since the mark. */
void file_watch_confirm(struct file_watch *w, uint64_t mark, bool plain);

#endif
