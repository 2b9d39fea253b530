/* SPDX-License-Identifier: Apache-2.0 */
/* Whole-file reads and atomic replacements (lib/fileio.h), for the state files of felix and the
 * Docker plugin. I/O: in the io library, not the pure core. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "lib/fileio.h"
#include "lib/strbuf.h"

int file_read(const char *path, size_t max, struct strbuf *out)
{
	size_t start = out->len;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int r = 0;

	if (fd < 0)
		return -errno;
	for (;;) {
		char buf[65536];
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : 0;
			break;
		}
		if (out->len - start + (size_t)n > max) {
			r = -EFBIG;
			break;
		}
		r = strbuf_append(out, buf, (size_t)n);
		if (r < 0)
			break;
	}
	close(fd);
	return r;
}

int file_write_atomic(const char *path, const void *buf, size_t len, mode_t mode)
{
	const char *p = buf;
	char *tmp = NULL;
	int fd, r = 0;

	if (asprintf(&tmp, "%s.tmp", path) < 0)
		return -ENOMEM;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0) {
		r = -errno;
		free(tmp);
		return r;
	}
	while (len && r == 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			r = -errno;
			break;
		}
		p += w;
		len -= (size_t)w;
	}
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	free(tmp);
	return r;
}
