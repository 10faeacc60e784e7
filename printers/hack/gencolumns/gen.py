#!/usr/bin/env python3
"""Turns main.go's JSON dump of the printers' column definitions into src/builtin/columns.rs."""
import json, re
cols = json.load(open('cols.json'))  # written by main.go
NAME = None; CREATED = None
for e in cols:
    for c in e['columns']:
        if c['name'] == 'Name' and c.get('format') == 'name': NAME = c['description']
        if c['name'] == 'Age': CREATED = c['description']
def const_name(t):
    base = t.split('.')[-1]
    s = re.sub(r'(?<=[a-z0-9])([A-Z])', r'_\1', base)
    s = re.sub(r'(?<=[A-Z])([A-Z][a-z])', r'_\1', s)
    return s.upper()
def lit(s):
    if s == NAME: return 'NAME_DESC'
    if s == CREATED: return 'CREATION_TIMESTAMP_DESC'
    return json.dumps(s)
out = []
out.append('//! Column definitions of the built-in printers.\n//!\n//! Generated from Kubernetes v1.36.3 `pkg/printers/internalversion.AddHandlers` (every\n//! `TableColumnDefinition` as registered, descriptions resolved from the `SwaggerDoc()` strings of\n//! the API types), so names, types, formats, descriptions and priorities are byte-identical to\n//! kube-apiserver\'s. Regenerate with `hack/gencolumns` rather than edit by hand.\n')
out.append('use crate::table::ColumnDefinition as C;\n')
out.append('/// `metav1.ObjectMeta{}.SwaggerDoc()["name"]`.\npub(crate) const NAME_DESC: &str = %s;\n' % json.dumps(NAME))
out.append('/// `metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]`.\npub(crate) const CREATION_TIMESTAMP_DESC: &str = %s;\n' % json.dumps(CREATED))
seen = set()
# Printers registered but never reached by kube-apiserver: metav1.Status objects are returned
# untransformed, and the CSIStorageCapacity registry uses the default table convertor.
SKIP = {'*v1.Status', '*storage.CSIStorageCapacity'}
for e in cols:
    t = e['type']
    if t.endswith('List') or t in SKIP: continue
    n = const_name(t)
    if n in seen: raise SystemExit('dup ' + n)
    seen.add(n)
    out.append('/// Columns of `%s`.\npub(crate) const %s: &[C] = &[' % (t.lstrip('*'), n))
    for c in e['columns']:
        out.append('    C::new(%s, %s, %s, %s, %d),' % (json.dumps(c['name']), json.dumps(c['type']), json.dumps(c.get('format','')), lit(c.get('description','')), c.get('priority',0)))
    out.append('];\n')
import sys
open(sys.argv[1] if len(sys.argv) > 1 else 'columns.rs','w').write('\n'.join(out))
print(sorted(seen))
