/* mailbox.h — where a user's Maildir lives, and creating one.
 *
 * Mailbox of user@domain: data_dir/mail/<domain>/<user>/ (cur/ new/ tmp/),
 * sub-folders Maildir++ style: .Sent/, .Drafts/, .Trash/, .Junk/. */
#ifndef SEALPOST_MAILBOX_H
#define SEALPOST_MAILBOX_H

#include <stdbool.h>
#include <stddef.h>

/* RFC 5321 4.5.3.1.1 / 4.5.3.1.2: local part 64 octets, domain 255. */
#define ADDRESS_LOCAL_MAX 64
#define ADDRESS_DOMAIN_MAX 255
#define ADDRESS_MAX (ADDRESS_LOCAL_MAX + 1 + ADDRESS_DOMAIN_MAX)

/* The folders every new mailbox gets, with their RFC 6154 special use. */
struct mailbox_special {
	const char *name;
	const char *special_use;
};
extern const struct mailbox_special mailbox_specials[];
extern const size_t mailbox_specials_count;

/* Is address a valid account name: local@domain, the local part made of
 * letters, digits and . _ + - (not starting or ending with '.', no ".."),
 * the domain a valid host name? Accounts are names on disk, so this is
 * stricter than RFC 5321. */
bool mailbox_address_valid(const char *address);

/* Lower-cased copy of address into out (ADDRESS_MAX + 1 bytes). */
void mailbox_address_normalize(const char *address, char *out, size_t size);

/* data_dir/mail/<domain>/<local> for a valid, normalised address
 * (new string, caller frees). */
char *mailbox_path(const char *data_dir, const char *address);

/* Create the Maildir of address with INBOX (cur/ new/ tmp/) and the special
 * folders, each durably (folders fsync'd). Existing folders are kept.
 * Mode 0700. */
int mailbox_create(const char *data_dir, const char *address,
		   const char **error_r);

/* Create one Maildir (cur/ new/ tmp/) at path, durably. */
int maildir_create(const char *path, const char **error_r);

#endif
