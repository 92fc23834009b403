// The container's device rules on cgroup v2: a BPF_PROG_TYPE_CGROUP_DEVICE
// program attached to its cgroup2 directory, deny by default, as runc and
// crun build theirs. The kernel runs it at open() and mknod() of a device
// node: 1 allows, 0 refuses with EPERM.
#define _GNU_SOURCE
#include "lab_host.h"

#include <errno.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

// runc's default device list (libcontainer/specconv AllowedDevices) and the
// console, as crun allows it: any node may be made (m), only these opened.
static const struct lab_device_rule default_rules[] = {
    {'c', -1, -1, "m"},  {'b', -1, -1, "m"},
    {'c', 1, 3, "rwm"},  {'c', 1, 5, "rwm"}, {'c', 1, 7, "rwm"}, {'c', 1, 8, "rwm"}, {'c', 1, 9, "rwm"},
    {'c', 5, 0, "rwm"},  {'c', 5, 1, "rwm"}, {'c', 5, 2, "rwm"}, {'c', 136, -1, "rwm"},
};
const struct lab_device_rule *lab_default_device_rules(int *count) {
    *count = (int)(sizeof(default_rules) / sizeof(default_rules[0]));
    return default_rules;
}

static struct bpf_insn instruction(unsigned char code, unsigned char dst, unsigned char src, short off, int imm) {
    struct bpf_insn insn;
    memset(&insn, 0, sizeof(insn));
    insn.code = code;
    insn.dst_reg = dst;
    insn.src_reg = src;
    insn.off = off;
    insn.imm = imm;
    return insn;
}

static int access_mask(const char *access) {
    int mask = 0;
    for (const char *c = access; *c != '\0'; c++) {
        mask |= *c == 'r' ? BPF_DEVCG_ACC_READ : *c == 'w' ? BPF_DEVCG_ACC_WRITE : *c == 'm' ? BPF_DEVCG_ACC_MKNOD : 0;
    }
    return mask;
}

// Appends one rule: a block that jumps past its end unless the request
// matches, and returns 1 when it does. Its length is counted first, so that
// every jump lands on the next block (a jump's offset counts from the
// instruction after it).
static int emit_rule(struct bpf_insn *out, int at, const struct lab_device_rule *rule) {
    int access = access_mask(rule->access);
    int full = access == (BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD);
    int length = 1 + (full ? 0 : 3) + (rule->major >= 0) + (rule->minor >= 0) + 2;
    int end = at + length;
#define SKIP(position) ((short)(end - ((position) + 1)))
    // r2: the device type.
    out[at] = instruction(BPF_JMP | BPF_JNE | BPF_K, 2, 0, SKIP(at), rule->type == 'c' ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK);
    at++;
    if (!full) {
        // The request asks for no access the rule does not grant: (r3 & access) == r3.
        out[at++] = instruction(BPF_ALU | BPF_MOV | BPF_X, 1, 3, 0, 0);
        out[at++] = instruction(BPF_ALU | BPF_AND | BPF_K, 1, 0, 0, access);
        out[at] = instruction(BPF_JMP | BPF_JNE | BPF_X, 1, 3, SKIP(at), 0);
        at++;
    }
    if (rule->major >= 0) {
        out[at] = instruction(BPF_JMP | BPF_JNE | BPF_K, 4, 0, SKIP(at), rule->major);
        at++;
    }
    if (rule->minor >= 0) {
        out[at] = instruction(BPF_JMP | BPF_JNE | BPF_K, 5, 0, SKIP(at), rule->minor);
        at++;
    }
#undef SKIP
    out[at++] = instruction(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 1);
    out[at++] = instruction(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
    return at;
}

int lab_attach_device_program(int cgroup_fd, const struct lab_device_rule *rules, int count, char *log, size_t log_size) {
    struct bpf_insn program[512];
    if (count < 0 || count > 64) {
        return EINVAL;
    }
    int at = 0;
    // r2 = type, r3 = access, r4 = major, r5 = minor (struct bpf_cgroup_dev_ctx).
    program[at++] = instruction(BPF_LDX | BPF_W | BPF_MEM, 2, 1, 0, 0);
    program[at++] = instruction(BPF_ALU | BPF_AND | BPF_K, 2, 0, 0, 0xFFFF);
    program[at++] = instruction(BPF_LDX | BPF_W | BPF_MEM, 3, 1, 0, 0);
    program[at++] = instruction(BPF_ALU | BPF_RSH | BPF_K, 3, 0, 0, 16);
    program[at++] = instruction(BPF_LDX | BPF_W | BPF_MEM, 4, 1, 4, 0);
    program[at++] = instruction(BPF_LDX | BPF_W | BPF_MEM, 5, 1, 8, 0);
    for (int i = 0; i < count; i++) {
        at = emit_rule(program, at, &rules[i]);
    }
    // Nothing matched: refuse.
    program[at++] = instruction(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0);
    program[at++] = instruction(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);

    union bpf_attr load;
    memset(&load, 0, sizeof(load));
    load.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    load.insns = (unsigned long)program;
    load.insn_cnt = (unsigned)at;
    load.license = (unsigned long)"GPL";
    if (log != NULL && log_size >= 128) {
        log[0] = '\0';
        load.log_level = 1;
        load.log_buf = (unsigned long)log;
        load.log_size = (unsigned)log_size;
    }
    int prog = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &load, sizeof(load));
    if (prog < 0) {
        return errno;
    }
    union bpf_attr attach;
    memset(&attach, 0, sizeof(attach));
    attach.target_fd = (unsigned)cgroup_fd;
    attach.attach_bpf_fd = (unsigned)prog;
    attach.attach_type = BPF_CGROUP_DEVICE;
    attach.attach_flags = BPF_F_ALLOW_MULTI;
    int err = syscall(SYS_bpf, BPF_PROG_ATTACH, &attach, sizeof(attach)) == 0 ? 0 : errno;
    // The attachment holds its own reference; the cgroup's removal releases it.
    close(prog);
    return err;
}
