// libarchive's C API, loaded on first use. Only LabImage imports this module.
//
// Why not link it: libarchive.so.13 brings libxml2, nettle, acl, lzma,
// zstd, bz2 and lz4, loaded and initialised at every isolab start, while
// only `image import` and the first start of an imported image read a tar.
// The API is libarchive's own, called through a table that
// lab_archive_api() fills with dlopen/dlsym the first time an archive is
// read (the header comes from libarchive-dev, the library from libarchive13).
#ifndef LAB_ARCHIVE_H
#define LAB_ARCHIVE_H

#include <archive.h>
#include <archive_entry.h>
#include <stddef.h>
#include <sys/xattr.h>

#define LAB_ARCHIVE_FUNCTIONS(X)                                                                         \
    X(archive_read_new) X(archive_read_support_filter_gzip) X(archive_read_support_filter_zstd)          \
    X(archive_read_support_format_tar) X(archive_read_support_format_raw) X(archive_read_open_fd)        \
    X(archive_read_next_header) X(archive_read_data_block) X(archive_read_free) X(archive_error_string)   \
    X(archive_filter_code) X(archive_write_disk_new) X(archive_write_disk_set_options)                   \
    X(archive_write_header) X(archive_write_data_block) X(archive_write_finish_entry) X(archive_write_free) \
    X(archive_entry_pathname) X(archive_entry_filetype) X(archive_entry_size) X(archive_entry_symlink)   \
    X(archive_entry_hardlink) X(archive_entry_set_pathname) X(archive_entry_set_hardlink)                \
    X(archive_entry_size_is_set) X(archive_write_new) X(archive_write_set_format_pax_restricted)                    \
    X(archive_write_open_fd) X(archive_write_close) X(archive_write_data) X(archive_entry_new) X(archive_entry_free) \
    X(archive_entry_set_filetype) X(archive_entry_set_perm) X(archive_entry_set_size) X(archive_entry_set_uid)      \
    X(archive_entry_set_gid) X(archive_entry_set_mtime) X(archive_entry_set_symlink)

/// Every libarchive function the lab calls.
struct lab_archive_api {
#define LAB_ARCHIVE_FIELD(name) __typeof__(name) *_Nonnull name;
    LAB_ARCHIVE_FUNCTIONS(LAB_ARCHIVE_FIELD)
#undef LAB_ARCHIVE_FIELD
};

/// The table, loaded once (thread-safe); NULL with a one-line reason in
/// `error` when libarchive.so.13 or one of its functions cannot be loaded.
const struct lab_archive_api *_Nullable lab_archive_api(char *_Nonnull error, size_t size);

/// The constants Swift cannot import from macros.
enum {
    LAB_ARCHIVE_OK = ARCHIVE_OK,
    LAB_ARCHIVE_EOF = ARCHIVE_EOF,
    LAB_ARCHIVE_WARN = ARCHIVE_WARN,
    LAB_ARCHIVE_FILTER_NONE = ARCHIVE_FILTER_NONE,
    LAB_ARCHIVE_FILTER_GZIP = ARCHIVE_FILTER_GZIP,
    LAB_ARCHIVE_FILTER_ZSTD = ARCHIVE_FILTER_ZSTD,
    LAB_AE_IFREG = AE_IFREG,
    LAB_AE_IFDIR = AE_IFDIR,
    LAB_AE_IFLNK = AE_IFLNK,
    /// What a layer is unpacked with: owners, modes, times, extended
    /// attributes (file capabilities) as stored; never through a symlink,
    /// never above the root.
    LAB_ARCHIVE_EXTRACT_FLAGS = ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME |
                                ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT,
};

#endif
