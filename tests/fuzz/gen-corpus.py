#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Write the fuzz targets' seed corpora from the golden tests' messages.

    tests/fuzz/gen-corpus.py [OUTDIR]     (default: tests/fuzz/corpus)
    tests/fuzz/gen-corpus.py --check      (fails unless the tree's copy is current)

The IC packets are read out of tests/vmbus/test-ic.c (its byte arrays).
The KVP messages are the golden sets of tests/kvp/test-msg.c (the calls in
vm_goldens and k_goldens are read from the file and built here with the
same offsets its helpers use), plus the cases those tests spell out by
hand: integer values, a non-BMP key, the kernel's registration. The
varlink calls are those of tests/hvkvpd/test-varlink.py, written as its
client writes them, alone and pipelined, on one or two connections. The ring
seeds carry those messages as VMBus packets in a ring region. Each seed is
the target's selector byte(s) followed by the message (see each fuzz-*.c
for its input layout). The output is deterministic: running the script
again must leave the tree unchanged.
"""
import filecmp
import json
import os
import re
import struct
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)

POOLS = {
    'HV_KVP_POOL_EXTERNAL': 0, 'HV_KVP_POOL_GUEST': 1, 'HV_KVP_POOL_AUTO': 2,
    'HV_KVP_POOL_AUTO_EXTERNAL': 3, 'HV_KVP_POOL_AUTO_INTERNAL': 4,
}
OPS = {
    'HV_KVP_OP_GET': 0, 'HV_KVP_OP_SET': 1, 'HV_KVP_OP_DELETE': 2, 'HV_KVP_OP_ENUMERATE': 3,
    'HV_KVP_OP_GET_IP_INFO': 4, 'HV_KVP_OP_SET_IP_INFO': 5, 'HV_KVP_OP_REGISTER1': 100,
}


def read(rel):
    with open(os.path.join(TESTS, rel), encoding='utf-8') as f:
        return f.read()


def put(buf, off, fmt, *v):
    struct.pack_into('<' + fmt, buf, off, *v)


def utf16(s):
    return s.encode('utf-16-le')


# ---- VMBus layout (test-msg.c: ic_request and mk_vm_*) ----

def ic_request(length, op, pool):
    p = bytearray(length)
    put(p, 0, 'II', 1, length - 8)            # pipe: flags, msgsize
    put(p, 8, 'HHHHHH', 3, 0, 2, 4, 0, length - 28)  # fw 3.0, KVP, msg 4.0, size
    put(p, 20, 'IBB', 0, 0x5a, 1 | 2)          # status, tid, TRANSACTION|REQUEST
    p[28], p[29] = op, pool
    return p


def vm_set(pool, key, value):
    p = ic_request(2604, OPS['HV_KVP_OP_SET'], pool)
    k, v = utf16(key), utf16(value)
    put(p, 32, 'III', 1, len(k) + 2, len(v) + 2)
    p[44:44 + len(k)] = k
    p[556:556 + len(v)] = v
    return p


def vm_get(pool, key):
    p = ic_request(2604, OPS['HV_KVP_OP_GET'], pool)
    k = utf16(key)
    put(p, 36, 'I', len(k) + 2)
    p[44:44 + len(k)] = k
    return p


def vm_delete(pool, key):
    p = ic_request(548, OPS['HV_KVP_OP_DELETE'], pool)
    k = utf16(key)
    put(p, 32, 'I', len(k) + 2)
    p[36:36 + len(k)] = k
    return p


def vm_enumerate(pool, index):
    p = ic_request(2608, OPS['HV_KVP_OP_ENUMERATE'], pool)
    put(p, 32, 'I', index)
    return p


def vm_ip(op, adapter):
    p = ic_request(7456, op, 0)
    a = utf16(adapter)
    p[30:30 + len(a)] = a
    return p


# ---- kernel layout (mk_k_*) ----

def k_new(op, pool):
    p = bytearray(7432)
    p[0], p[1] = op, pool
    return p


def k_set(pool, key, value):
    p = k_new(OPS['HV_KVP_OP_SET'], pool)
    k, v = key.encode(), value.encode()
    put(p, 8, 'II', len(k) + 1, len(v) + 1)
    p[16:16 + len(k)] = k
    p[528:528 + len(v)] = v
    return p


def k_get(pool, key):
    p = k_new(OPS['HV_KVP_OP_GET'], pool)
    k = key.encode()
    put(p, 8, 'I', len(k) + 1)
    p[16:16 + len(k)] = k
    return p


def k_delete(pool, key):
    p = k_new(OPS['HV_KVP_OP_DELETE'], pool)
    k = key.encode()
    put(p, 4, 'I', len(k) + 1)
    p[8:8 + len(k)] = k
    return p


def k_enumerate(pool, index):
    p = k_new(OPS['HV_KVP_OP_ENUMERATE'], pool)
    put(p, 4, 'I', index)
    return p


def k_ip(op, adapter):
    p = k_new(op, 0)
    a = adapter.encode()
    p[4:4 + len(a)] = a
    return p


def k_register(version):
    p = k_new(OPS['HV_KVP_OP_REGISTER1'], 0)
    v = version.encode()
    p[4:4 + len(v)] = v
    return p


BUILDERS = {
    'mk_vm_set': vm_set, 'mk_vm_get': vm_get, 'mk_vm_delete': vm_delete,
    'mk_vm_enumerate': vm_enumerate, 'mk_vm_ip': vm_ip,
    'mk_k_set': k_set, 'mk_k_get': k_get, 'mk_k_delete': k_delete,
    'mk_k_enumerate': k_enumerate, 'mk_k_ip': k_ip, 'mk_k_register': k_register,
}


def c_arg(a):
    a = a.strip()
    if a.startswith('"'):
        return bytes(a[1:-1], 'utf-8').decode('unicode_escape').encode('latin-1').decode('utf-8')
    if a in POOLS:
        return POOLS[a]
    if a in OPS:
        return OPS[a]
    return int(a, 0)


def goldens(src, func):
    """The messages of a goldens function: (name, bytes) in order."""
    body = re.search(r'static void %s\(struct golden \*g\)\n\{(.*?)\n\}' % func, src, re.S)
    if not body:
        sys.exit('gen-corpus: %s not found in tests/kvp/test-msg.c' % func)
    out = []
    for m in re.finditer(r'(mk_\w+)\(([^)]*)\), (\d+) \}', body.group(1)):
        args = [c_arg(a) for a in re.findall(r'"(?:[^"\\]|\\.)*"|[^,]+', m.group(2))]
        msg = BUILDERS[m.group(1)](*args)
        if len(msg) != int(m.group(3)):
            sys.exit('gen-corpus: %s: %d bytes, the test says %s'
                     % (m.group(0), len(msg), m.group(3)))
        name = m.group(1)[3:] + '-' + '-'.join(
            re.sub(r'[^A-Za-z0-9.]+', '', str(a)) or 'empty' for a in args)
        out.append((name.replace('_', '-'), bytes(msg)))
    return out


def ic_arrays(src):
    """The named byte arrays of test-ic.c: (name, bytes)."""
    out = []
    for m in re.finditer(r'static const uint8_t (\w+)\[\] = \{(.*?)\};', src, re.S):
        body = re.sub(r'/\*.*?\*/', '', m.group(2), flags=re.S)
        out.append((m.group(1), bytes(int(x, 0) for x in re.findall(r'0x[0-9a-fA-F]+', body))))
    return out


# ---- varlink (fuzz-varlink.c: a flag byte, then what clients send) ----

KVP = 'io.hvuio.Kvp.'
SVC = 'org.varlink.service.'


def vl(method, params=None, **flags):
    """One call as tests/hvkvpd/test-varlink.py's Client.send writes it."""
    msg = {'method': method}
    if params is not None:
        msg['parameters'] = params
    msg.update(flags)
    return json.dumps(msg).encode() + b'\0'


def varlink_seeds():
    g = {'pool': 'Guest', 'key': 'k'}
    calls = {
        # case_service
        'getinfo': vl(SVC + 'GetInfo'),
        'description-kvp': vl(SVC + 'GetInterfaceDescription', {'interface': 'io.hvuio.Kvp'}),
        'description-service': vl(SVC + 'GetInterfaceDescription',
                                  {'interface': 'org.varlink.service'}),
        'description-unknown': vl(SVC + 'GetInterfaceDescription',
                                  {'interface': 'com.example.Nope'}),
        'method-unknown': vl(KVP + 'Nope') + vl(SVC + 'Nope') + vl('com.example.Thing.Do'),
        'getinfo-param': vl(SVC + 'GetInfo', {'x': 1}),
        # parameters
        'get-extra-param': vl(KVP + 'Get', dict(g, bogus='x')),
        'get-no-key': vl(KVP + 'Get', {'pool': 'Guest'}),
        'get-pool-int': vl(KVP + 'Get', {'pool': 1, 'key': 'k'}),
        'set-value-null': vl(KVP + 'Set', dict(g, value=None)),
        'get-params-array': vl(KVP + 'Get', [1]),
        'status-param': vl(KVP + 'Status', {'pool': 'x'}),
        # pools and keys
        'get-pools': b''.join(vl(KVP + 'Get', {'pool': n, 'key': 'ext1'})
                              for n in ('External', '0', 'external', 'EXTERNAL')) +
        vl(KVP + 'Get', {'pool': 'guest/parameters', 'key': 'HostName'}),
        'get-bad-pools': b''.join(vl(KVP + 'Get', {'pool': n, 'key': 'k'})
                                  for n in ('5', 'Nope', '', '01')),
        'get-missing': vl(KVP + 'Get', {'pool': 'Guest', 'key': 'missing'}),
        'write-host-pools': b''.join(vl(KVP + 'Set', {'pool': n, 'key': 'k', 'value': 'v'}) +
                                     vl(KVP + 'Delete', {'pool': n, 'key': 'ext1'})
                                     for n in ('External', 'Guest/Parameters', 'Internal')),
        'set-get-delete': vl(KVP + 'Set', {'pool': 'Guest', 'key': 'k1', 'value': 'välue ✓'}) +
        vl(KVP + 'Get', {'pool': '1', 'key': 'k1'}) +
        vl(KVP + 'Set', {'pool': 'Guest', 'key': 'k1', 'value': ''}) +
        vl(KVP + 'Delete', {'pool': 'Guest', 'key': 'k1'}) +
        vl(KVP + 'Delete', {'pool': 'Guest', 'key': 'k1'}) +
        vl(KVP + 'Get', {'pool': 'Guest', 'key': 'k1'}),
        'key-limits': vl(KVP + 'Set', {'pool': 'Guest', 'key': 'K' * 254, 'value': 'x'}) +
        vl(KVP + 'Set', {'pool': 'Guest', 'key': 'K' * 255, 'value': 'x'}) +
        vl(KVP + 'Set', {'pool': 'Guest', 'key': '😀' * 127, 'value': 'x'}) +
        vl(KVP + 'Set', {'pool': 'Guest', 'key': 'long', 'value': '😀' * 511}) +
        vl(KVP + 'Set', {'pool': 'Guest', 'key': 'long', 'value': '😀' * 512}),
        'key-invalid': vl(KVP + 'Set', {'pool': 'Guest', 'key': '', 'value': 'x'}) +
        vl(KVP + 'Set', {'pool': 'Guest', 'key': 'a\u0000b', 'value': 'x'}) +
        vl(KVP + 'Set', {'pool': 'Guest', 'key': 'nul', 'value': 'a\u0000b'}) +
        vl(KVP + 'Get', {'pool': 'Guest', 'key': ''}),
        'list': b''.join(vl(KVP + 'Set', {'pool': 'Guest', 'key': k, 'value': 'v-' + k})
                         for k in ('a', 'b', 'c')) +
        vl(KVP + 'List', {'pool': 'Guest'}, more=True) + vl(KVP + 'List', {'pool': 'Guest'}) +
        vl(KVP + 'List', {'pool': 'Internal'}) + vl(KVP + 'List', {'pool': 'Auto'}, more=True),
        'auto': vl(KVP + 'Get', {'pool': 'Auto', 'key': 'OSName'}) +
        vl(KVP + 'Set', {'pool': 'Auto', 'key': 'OSName', 'value': 'Custom OS'}) +
        vl(KVP + 'Get', {'pool': 'Auto', 'key': 'OSName'}) +
        vl(KVP + 'Set', {'pool': 'Auto', 'key': 'MyKey', 'value': 'x'}) +
        vl(KVP + 'Delete', {'pool': 'Auto', 'key': 'MyKey'}) +
        vl(KVP + 'Delete', {'pool': 'Auto', 'key': 'OSName'}) +
        vl(KVP + 'Delete', {'pool': 'Auto', 'key': 'OSName'}),
        'status': vl(KVP + 'Status'),
        # case_calls: Watch needs more; oneway; calls sent together
        'oneway-pipelined': vl(KVP + 'Watch', {}) +
        vl(KVP + 'Set', {'pool': 'Guest', 'key': 'ow', 'value': '1'}, oneway=True) +
        vl(KVP + 'Get', {'pool': 'Guest', 'key': 'ow'}) +
        vl(KVP + 'Get', {'pool': 'Guest', 'key': 'nope'}) + vl(SVC + 'GetInfo'),
        # hostile: invalid UTF-8 per parameter, then the framing errors
        'utf8-invalid': b'{"method":"io.hvuio.Kvp.Get","parameters":{"pool":"Guest","key":"a\xff"}}\0'
        b'{"method":"io.hvuio.Kvp.Set","parameters":{"pool":"Guest","key":"k2","value":"\xc0\x80"}}\0'
        b'{"method":"io.hvuio.Kvp.Set","parameters":{"pool":"Guest","key":"k2","value":"\xed\xa0\x80"}}\0'
        b'{"method":"io.hvuio.Kvp.Get","parameters":{"pool":"Gu\xffest","key":"k"}}\0',
        'close-invalid-json': b'{nope\0',
        'close-empty': b'\0',
        'close-array': b'[1,2]\0',
        'close-no-method': b'{"parameters":{}}\0',
        'close-method-int': b'{"method":7}\0',
        'close-trailing': b'{"method":"io.hvuio.Kvp.Status"} trailing\0',
        'close-more-string': b'{"method":"io.hvuio.Kvp.Status","more":"yes"}\0',
        'close-deep': b'[' * 1000 + b'\0',
        'close-after-reply': vl(KVP + 'Status') + b'{nope\0',
    }
    seeds = [(name, b'\x00' + msg) for name, msg in calls.items()]
    # Watch on one connection, the writes on the other (messages alternate).
    watch = vl(KVP + 'Watch', {}, more=True)
    sets = [vl(KVP + 'Set', {'pool': 'Guest', 'key': 'w1', 'value': 'x'}),
            vl(KVP + 'Delete', {'pool': 'Guest', 'key': 'w1'}),
            vl(KVP + 'Set', {'pool': 'Auto', 'key': 'OSName', 'value': 'Mine'}),
            vl(KVP + 'Delete', {'pool': 'Auto', 'key': 'OSName'})]
    two = watch + sets[0] + vl(KVP + 'Get', g) + sets[1] + vl(KVP + 'Get', g) + sets[2] + \
        vl(KVP + 'Get', g) + sets[3]
    seeds += [
        ('watch-two', b'\x20' + two),
        ('watch-key-two', b'\x20' + vl(KVP + 'Watch', {'pool': 'guest', 'key': 'w1'}, more=True) +
         sets[0] + vl(KVP + 'Watch', {'pool': 'External', 'key': None}, more=True) + sets[1]),
        ('watch-reader-restricted', b'\x27' + two),
        ('reader-restricted', b'\x07' + calls['get-pools'] + calls['set-get-delete']),
        ('writer-primary-group', b'\x01' + calls['set-get-delete']),
        ('writer-supplementary', b'\x02' + calls['auto']),
        ('list-more-big', b'\x80' + vl(KVP + 'List', {'pool': 'Guest'}, more=True) +
         vl(KVP + 'Status')),
        ('list-more-big-slow', b'\xc0' + vl(KVP + 'List', {'pool': 'Guest'}, more=True) +
         vl(KVP + 'List', {'pool': 'Guest'}, more=True)),
        ('pad-fit', b'\x08' + vl(KVP + 'Status') + vl(SVC + 'GetInfo')),
        ('pad-over', b'\x10' + vl(KVP + 'Status') + vl(SVC + 'GetInfo')),
        ('no-nul', b'\x00' + vl(KVP + 'Status')[:-1]),
    ]
    return seeds


# ---- ring regions (fuzz-ring.c: control, header fields, swap index, data) ----

def packet(payload, trans_id, pkt_type=6, flags=1):
    length = (16 + len(payload) + 7) & ~7
    d = struct.pack('<HHHHQ', pkt_type, 2, length // 8, flags, trans_id)
    return d + payload + bytes(length - 16 - len(payload))


def ring(dsize, start, packets, ctl=b'\x01\x00\x40\x00', mask=0, pending=0, feat=1):
    data = bytearray(dsize)
    pos = start
    for pkt in packets:
        for i, b in enumerate(pkt + struct.pack('<Q', pos << 32)):
            data[(pos + i) % dsize] = b
        pos = (pos + len(pkt) + 8) % dsize
    hdr = struct.pack('<IIIII', pos, start, mask, pending, feat)
    return ctl + hdr + struct.pack('<I', start) + bytes(data)


def check():
    """The tree's seeds, for each target written here, are exactly these."""
    with tempfile.TemporaryDirectory() as tmp:
        write(tmp)
        stale = []
        for target in sorted(os.listdir(tmp)):
            cmp = filecmp.dircmp(os.path.join(tmp, target),
                                 os.path.join(HERE, 'corpus', target))
            stale += ['%s/%s' % (target, n) for n in
                      cmp.left_only + cmp.right_only + cmp.diff_files]
    if stale:
        sys.exit('gen-corpus: tests/fuzz/corpus is not what its sources give '
                 '(run tests/fuzz/gen-corpus.py): ' + ' '.join(stale))
    return 0


def main():
    if sys.argv[1:] == ['--check']:
        return check()
    return write(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, 'corpus'))


def write(outdir):
    msg_src = read('kvp/test-msg.c')
    ic_src = read('vmbus/test-ic.c')
    vm = goldens(msg_src, 'vm_goldens')
    km = goldens(msg_src, 'k_goldens')
    ics = ic_arrays(ic_src)

    # By hand in test-msg.c: vm_set_integers, vm_set_registry_types, vm_unicode_key,
    # k_register_handshake.
    u32 = vm_set(POOLS['HV_KVP_POOL_AUTO_EXTERNAL'], 'HostingSystemOsMajor', '')
    put(u32, 32, 'I', 4)
    put(u32, 40, 'II', 4, 4294967295)
    u64 = vm_set(POOLS['HV_KVP_POOL_AUTO_EXTERNAL'], 'HostingSystemOsMinor', '')
    put(u64, 32, 'I', 8)
    put(u64, 40, 'IQ', 8, 1 << 40)
    qword = bytearray(u64)
    put(qword, 32, 'I', 11)
    expand = vm_set(POOLS['HV_KVP_POOL_GUEST'], 'Path', '%PATH%')
    put(expand, 32, 'I', 2)
    vm += [('set-u32', bytes(u32)), ('set-u64', bytes(u64)),
           ('set-qword', bytes(qword)), ('set-expand-sz', bytes(expand)),
           ('set-unicode', bytes(vm_set(POOLS['HV_KVP_POOL_GUEST'],
                                        '\u30ad\u30fc\U0001f600', '\u503c')))]
    km += [('register-empty', bytes(k_register('')))]

    seeds = {
        'fuzz-ic': [],
        'fuzz-kvp-msg': [],
        'fuzz-kvp-kmsg': [],
        'fuzz-kvp-utf16': [],
        'fuzz-ring': [],
        'fuzz-varlink': varlink_seeds(),
    }
    # fuzz-ic: the KVP guest list answers (selector 1), offers checked;
    # replies are also parsed with no offer (0x41).
    for name, b in ics:
        if len(b) < 28:
            continue   # pieces of packets, not packets
        seeds['fuzz-ic'].append((name, b'\x01' + b))
        if name.startswith('rep_'):
            seeds['fuzz-ic'].append((name + '-no-offer', b'\x41' + b))
    seeds['fuzz-ic'].append(('req_ws2022-shutdown-list', b'\x02' + dict(ics)['req_ws2022']))
    seeds['fuzz-ic'].append(('req_ws2022-host-list', b'\x81' + dict(ics)['req_ws2022']))

    # The codec targets: selector 0 (HV_S_OK, the request's key as the
    # answer), and a few others per message.
    for name, b in vm:
        for sel in (0x00, 0x31):
            seeds['fuzz-kvp-msg'].append(('%s-%02x' % (name, sel), bytes([sel]) + b))
    for name, b in km:
        for sel in (0x00, 0x31):
            seeds['fuzz-kvp-kmsg'].append(('%s-%02x' % (name, sel), bytes([sel]) + b))

    # fuzz-kvp-utf16: the strings of utf16_known, as UTF-16LE and as UTF-8.
    for name, s in (('cjk', '\u65e5\u672c\u8a9e'), ('emoji', '\U0001f600\U0010ffff'),
                    ('edges', '\u0080\u07ff\u0800\ufffd\uffff'), ('ascii', 'HostName'),
                    ('key', '\u30ad\u30fc\U0001f600')):
        seeds['fuzz-kvp-utf16'].append((name + '-utf16', b'\x00' + utf16(s) + b'\x00\x00'))
        seeds['fuzz-kvp-utf16'].append((name + '-utf8', b'\x00' + s.encode()))
    seeds['fuzz-kvp-utf16'].append(('lone-high', b'\x00' + b'\x3d\xd8a\x00'))
    seeds['fuzz-kvp-utf16'].append(('overlong', b'\x00' + b'\xe0\x80\x80'))

    # fuzz-ring: the negotiation and KVP messages as the host sends them.
    nego = dict(ics)['req_ws2022']
    get = dict(vm)['vm-get-1-Foo']
    seeds['fuzz-ring'] += [
        ('empty', ring(256, 0, [])),
        ('negotiate', ring(256, 0, [packet(nego, 1)])),
        ('negotiate-wrapped', ring(256, 200, [packet(nego, 2)])),
        ('negotiate-then-get', ring(4096, 0, [packet(nego, 3), packet(get, 4)])),
        ('get-wrapped', ring(4096, 3000, [packet(get, 5)])),
        ('over-max-pkt', ring(256, 0, [packet(nego, 6), packet(b'x' * 8, 7)],
                              ctl=b'\x01\x04\x10\x00')),
        ('pending-send', ring(512, 128, [packet(nego, 8)] * 3, pending=400)),
        ('masked-send', ring(256, 64, [packet(b'', 9)], ctl=b'\x01\x00\x20\x00', mask=1)),
    ]

    # fuzz-kvp-pool: the files of files_linux_format_written and
    # files_foreign_format_read in tests/kvp/test-pool.c (the second with
    # its partial record), pool 3 and pool 1 with an outside append.
    def lx(key, value, garbage=False):
        r = bytearray(b'G' * 2560 if garbage else bytes(2560))
        r[:len(key)] = key
        if len(key) < 512:
            r[len(key)] = 0
        v = value + b'\0'
        r[512:512 + len(v)] = v
        return bytes(r)
    linux = lx(b'HostName', b'h') + lx(b'VirtualMachineName', b'vm1') + \
        lx(b'PhysicalHostName', b'phys')
    foreign = lx(b'L' * 512, b'cloud-init long key') + lx(b'dup', b'first', True) + \
        lx(b'bad\xff\xfe', b'x') + lx(b'dup', b'second') + lx(b'partial', b'cut')
    seeds['fuzz-kvp-pool'] = [
        ('empty', b'\x03'),
        ('linux-format', b'\x03' + linux),
        ('foreign-format', b'\x81' + foreign[:4 * 2560 + 1000]),
        ('foreign-format-whole', b'\x01' + foreign),
    ]

    for target, items in seeds.items():
        d = os.path.join(outdir, target)
        os.makedirs(d, exist_ok=True)
        for name, b in items:
            with open(os.path.join(d, name), 'wb') as f:
                f.write(b)
    return 0


if __name__ == '__main__':
    sys.exit(main())
