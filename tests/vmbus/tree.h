/* SPDX-License-Identifier: ISC */
/* Writable copies of the recorded sysfs trees in tests/vmbus/trees. */
#ifndef HVUIO_TESTS_VMBUS_TREE_H
#define HVUIO_TESTS_VMBUS_TREE_H

#include <stddef.h>

#define KVP_INST "242ff919-07db-4180-9c2e-b86cb68c8c55"
#define HB_INST "2dd1ce17-079e-403c-b352-a1921ee207ee"
#define HB_CLASS "57164f39-9115-4e78-ab55-382f3bd5422d"
#define NIC_INST "d34b2567-b9b6-42b9-8778-0a4ec0b955bf"
#define NIC2_INST "4bc4e1f0-9c53-4d4b-a0e4-6e9b3c2f5a71"

/*
 * Copy trees/NAME to a new temporary directory, add the ring files the
 * recorded tree leaves out (sparse, of the kernel's st_size), and return
 * the copy's path (free with tree_remove). NAME NULL: an empty directory.
 */
char *tree_copy(const char *name);
void tree_remove(char *root);

/* Paths relative to the copy. Each fails the test on error. */
void tree_write(const char *root, const char *rel, const char *text);
void tree_unlink(const char *root, const char *rel);
void tree_mkdir(const char *root, const char *rel);
void tree_symlink(const char *root, const char *target, const char *rel);
/* The whole file, or NULL if it does not exist; malloc'ed. */
char *tree_read(const char *root, const char *rel);

/* "sys/bus/vmbus/devices/<inst>/<rest>" */
#define DEV(inst, rest) "sys/bus/vmbus/devices/" inst "/" rest
#define DRV(name, rest) "sys/bus/vmbus/drivers/" name "/" rest

#endif
