/* LD_PRELOAD shim for the failing-disk test: while the file named by
 * NC_FAIL_FSYNC_TRIGGER exists, fdatasync() and fsync() fail with EIO. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

int fdatasync (int fd);
int fsync (int fd);

static int
should_fail (void)
{
  const char *trigger = getenv ("NC_FAIL_FSYNC_TRIGGER");
  return trigger != NULL && access (trigger, F_OK) == 0;
}

int
fdatasync (int fd)
{
  static int (*real) (int);
  if (should_fail ())
    {
      errno = EIO;
      return -1;
    }
  if (real == NULL)
    real = (int (*) (int)) dlsym (RTLD_NEXT, "fdatasync");
  return real (fd);
}

int
fsync (int fd)
{
  static int (*real) (int);
  if (should_fail ())
    {
      errno = EIO;
      return -1;
    }
  if (real == NULL)
    real = (int (*) (int)) dlsym (RTLD_NEXT, "fsync");
  return real (fd);
}
