// The device allow-list for cgroup v2: a BPF_PROG_TYPE_CGROUP_DEVICE program assembled by
// hand (no libbpf: the shim is static, libc only), loaded with bpf(2) and attached to a run's
// cgroup. Same shape as runc's devicefilter.go and crun's ebpf.c, allow rules only.
//
// The kernel runs the program on every open/mknod of a device node by a task of the cgroup
// (or of a descendant), with
//     struct bpf_cgroup_dev_ctx { __u32 access_type; /* access << 16 | type */ __u32 major, minor; }
// and denies with EPERM unless every program in the effective list returns 1.
//
// Layout (r1 = ctx on entry):
//     r2 = ctx->access_type & 0xffff        type: 1 block, 2 char
//     r3 = ctx->access_type >> 16           access: 1 mknod, 2 read, 4 write
//     r4 = ctx->major
//     r5 = ctx->minor
//   per rule, each test jumping to the next rule on mismatch:
//     if r2 != type goto next                (left out for type 'a')
//     r1 = r3; r1 &= access; if r1 != r3 goto next   (left out when access is rwm)
//     if r4 != major goto next              (left out for -1)
//     if r5 != minor goto next              (left out for -1)
//     r0 = 1; exit
//   r0 = 0; exit
// Jumps are BPF_JMP (64-bit compares of zero-extended u32 values): BPF_JMP32 needs 5.1 and
// nothing here needs it. The default list compiles to 47 instructions.
#define _GNU_SOURCE
#include "berth_sys.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/bpf.h>

#ifndef SYS_bpf
#define SYS_bpf 321
#endif

#define MAX_RULES 256
#define INSNS_PER_RULE 8
#define MAX_INSNS (6 + MAX_RULES * INSNS_PER_RULE + 2)

static const struct berth_device_rule default_rules[] = {
    {'c', 1, 3, BERTH_DEV_RWM},    // null
    {'c', 1, 5, BERTH_DEV_RWM},    // zero
    {'c', 1, 7, BERTH_DEV_RWM},    // full
    {'c', 1, 8, BERTH_DEV_RWM},    // random
    {'c', 1, 9, BERTH_DEV_RWM},    // urandom
    {'c', 5, 0, BERTH_DEV_RWM},    // tty
    {'c', 5, 2, BERTH_DEV_RWM},    // ptmx
    {'c', 136, -1, BERTH_DEV_RWM}, // pts/*
};

const struct berth_device_rule *berth_device_rules_default(int *count) {
    if (count) *count = (int)(sizeof(default_rules) / sizeof(default_rules[0]));
    return default_rules;
}

static char verifier_log[64 * 1024];

const char *berth_device_filter_log(void) { return verifier_log; }

static struct bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
    struct bpf_insn i;
    memset(&i, 0, sizeof(i));
    i.code = code;
    i.dst_reg = dst & 0xf;
    i.src_reg = src & 0xf;
    i.off = off;
    i.imm = imm;
    return i;
}

#define LDX_W(dst, src, off)   insn(BPF_LDX | BPF_MEM | BPF_W, dst, src, off, 0)
#define ALU32_IMM(op, dst, v)  insn(BPF_ALU | BPF_K | (op), dst, 0, 0, v)
#define MOV32_REG(dst, src)    insn(BPF_ALU | BPF_X | BPF_MOV, dst, src, 0, 0)
#define MOV64_IMM(dst, v)      insn(BPF_ALU64 | BPF_K | BPF_MOV, dst, 0, 0, v)
#define JNE_IMM(dst, v, off)   insn(BPF_JMP | BPF_K | BPF_JNE, dst, 0, off, v)
#define JNE_REG(dst, src, off) insn(BPF_JMP | BPF_X | BPF_JNE, dst, src, off, 0)
#define EXIT()                 insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)

// Returns the instruction count, or -1 with errno.
static int assemble(const struct berth_device_rule *rules, int count, struct bpf_insn *out) {
    if (count < 0 || (count > 0 && !rules)) { errno = EINVAL; return -1; }
    if (count > MAX_RULES) { errno = E2BIG; return -1; }
    int n = 0;
    out[n++] = LDX_W(BPF_REG_2, BPF_REG_1, offsetof(struct bpf_cgroup_dev_ctx, access_type));
    out[n++] = ALU32_IMM(BPF_AND, BPF_REG_2, 0xffff);
    out[n++] = LDX_W(BPF_REG_3, BPF_REG_1, offsetof(struct bpf_cgroup_dev_ctx, access_type));
    out[n++] = ALU32_IMM(BPF_RSH, BPF_REG_3, 16);
    out[n++] = LDX_W(BPF_REG_4, BPF_REG_1, offsetof(struct bpf_cgroup_dev_ctx, major));
    out[n++] = LDX_W(BPF_REG_5, BPF_REG_1, offsetof(struct bpf_cgroup_dev_ctx, minor));
    for (int r = 0; r < count; r++) {
        const struct berth_device_rule *rule = &rules[r];
        int32_t type;
        switch (rule->type) {
        case 'c': type = BPF_DEVCG_DEV_CHAR; break;
        case 'b': type = BPF_DEVCG_DEV_BLOCK; break;
        case 'a': type = 0; break;
        default: errno = EINVAL; return -1;
        }
        if (rule->major < -1 || rule->minor < -1 || (rule->access & ~(uint32_t)BERTH_DEV_RWM)) {
            errno = EINVAL;
            return -1;
        }
        uint32_t access = rule->access & BERTH_DEV_RWM;
        if (access == 0) continue; // allows nothing
        int checks = (type != 0) + (access != BERTH_DEV_RWM ? 3 : 0)
                   + (rule->major != -1) + (rule->minor != -1);
        if (checks == 0) {
            // 'a *:* rwm' allows everything: stop here, since the verifier rejects a program
            // with unreachable instructions (the rules after it and the final deny).
            out[n++] = MOV64_IMM(BPF_REG_0, 1);
            out[n++] = EXIT();
            return n;
        }
        // Each jump goes to the first instruction after this rule's `exit`.
        int end = n + checks + 2;
#define SKIP ((int16_t)(end - (n + 1)))
        if (type != 0) {
            out[n] = JNE_IMM(BPF_REG_2, type, SKIP); n++;
        }
        if (access != BERTH_DEV_RWM) {
            out[n++] = MOV32_REG(BPF_REG_1, BPF_REG_3);
            out[n++] = ALU32_IMM(BPF_AND, BPF_REG_1, (int32_t)access);
            out[n] = JNE_REG(BPF_REG_1, BPF_REG_3, SKIP); n++;
        }
        if (rule->major != -1) {
            out[n] = JNE_IMM(BPF_REG_4, rule->major, SKIP); n++;
        }
        if (rule->minor != -1) {
            out[n] = JNE_IMM(BPF_REG_5, rule->minor, SKIP); n++;
        }
#undef SKIP
        out[n++] = MOV64_IMM(BPF_REG_0, 1);
        out[n++] = EXIT();
    }
    out[n++] = MOV64_IMM(BPF_REG_0, 0);
    out[n++] = EXIT();
    return n;
}

static int prog_load(const struct bpf_insn *insns, int count, char *log, uint32_t log_size) {
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    attr.insns = (uint64_t)(uintptr_t)insns;
    attr.insn_cnt = (uint32_t)count;
    attr.license = (uint64_t)(uintptr_t)"Apache-2.0"; // no helper is called: any string will do
    if (log) {
        attr.log_level = 1;
        attr.log_buf = (uint64_t)(uintptr_t)log;
        attr.log_size = log_size;
    }
    memcpy(attr.prog_name, "berth_devices", sizeof("berth_devices"));
    return (int)syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr));
}

int berth_device_filter_attach(int cgroup_dirfd, const struct berth_device_rule *rules, int count) {
    struct bpf_insn insns[MAX_INSNS];
    int n = assemble(rules, count, insns);
    if (n < 0) return -1;

    verifier_log[0] = '\0';
    int prog = prog_load(insns, n, NULL, 0);
    if (prog < 0) {
        // Load again with the verifier's log (what libbpf does): the log costs verifier time
        // and a too-small buffer is itself an error (ENOSPC), so only on failure. The first
        // errno is the one returned.
        int saved = errno;
        int again = prog_load(insns, n, verifier_log, sizeof(verifier_log) - 1);
        if (again >= 0) close(again);
        verifier_log[sizeof(verifier_log) - 1] = '\0';
        errno = saved;
        return -1;
    }

    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.target_fd = (uint32_t)cgroup_dirfd;
    attr.attach_bpf_fd = (uint32_t)prog;
    attr.attach_type = BPF_CGROUP_DEVICE;
    // ALLOW_MULTI: a program attached below (a nested runtime's own filter) runs in addition
    // to this one, never instead of it, and the kernel allows only if all of them allow.
    attr.attach_flags = BPF_F_ALLOW_MULTI;
    int rc = (int)syscall(SYS_bpf, BPF_PROG_ATTACH, &attr, sizeof(attr));
    int saved = errno;
    close(prog); // the attachment holds its own reference
    errno = saved;
    return rc < 0 ? -1 : 0;
}

int berth_device_filter_count(int cgroup_dirfd) {
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.query.target_fd = (uint32_t)cgroup_dirfd;
    attr.query.attach_type = BPF_CGROUP_DEVICE;
    // Programs attached to this very cgroup (not inherited ones): prog_ids NULL asks for the count.
    if (syscall(SYS_bpf, BPF_PROG_QUERY, &attr, sizeof(attr)) != 0) return -1;
    return (int)attr.query.prog_cnt;
}
