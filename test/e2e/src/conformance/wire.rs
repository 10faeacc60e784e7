//! Just enough of Kubernetes' protobuf encoding to compare a protobuf answer of kube-apiserver
//! with a JSON one: the `k8s\0` envelope (`runtime.Unknown`: apiVersion, kind, raw), an object's
//! `metadata.name`, a `metav1.Status`, and the length-prefixed frames of a protobuf watch.

/// The magic prefix of a protobuf-encoded Kubernetes object.
const MAGIC: &[u8] = b"k8s\0";

/// One decoded protobuf field: number and value.
enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Other,
}

fn varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut out = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos)?;
        *pos += 1;
        out |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(out);
        }
    }
    None
}

fn fields(buf: &[u8]) -> Vec<(u64, Field<'_>)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let Some(key) = varint(buf, &mut pos) else {
            break;
        };
        let field = match key & 7 {
            0 => match varint(buf, &mut pos) {
                Some(v) => Field::Varint(v),
                None => break,
            },
            2 => {
                let Some(len) = varint(buf, &mut pos) else {
                    break;
                };
                let end = pos.saturating_add(len as usize);
                let Some(bytes) = buf.get(pos..end) else {
                    break;
                };
                pos = end;
                Field::Bytes(bytes)
            }
            1 => {
                pos += 8;
                Field::Other
            }
            5 => {
                pos += 4;
                Field::Other
            }
            _ => break,
        };
        out.push((key >> 3, field));
    }
    out
}

fn bytes_field(buf: &[u8], number: u64) -> Option<&[u8]> {
    fields(buf).into_iter().find_map(|(n, f)| match f {
        Field::Bytes(b) if n == number => Some(b),
        _ => None,
    })
}

fn string_field(buf: &[u8], number: u64) -> Option<String> {
    bytes_field(buf, number).map(|b| String::from_utf8_lossy(b).into_owned())
}

fn varint_field(buf: &[u8], number: u64) -> Option<u64> {
    fields(buf).into_iter().find_map(|(n, f)| match f {
        Field::Varint(v) if n == number => Some(v),
        _ => None,
    })
}

/// A protobuf-encoded object, opened.
#[derive(Debug, Default, Clone)]
pub struct Envelope {
    /// `typeMeta.apiVersion`.
    pub api_version: String,
    /// `typeMeta.kind`.
    pub kind: String,
    /// The object's own encoding.
    pub raw: Vec<u8>,
}

/// Opens `k8s\0` + `runtime.Unknown`.
pub fn envelope(data: &[u8]) -> Option<Envelope> {
    let unknown = data.strip_prefix(MAGIC)?;
    let type_meta = bytes_field(unknown, 1).unwrap_or_default();
    Some(Envelope {
        api_version: string_field(type_meta, 1).unwrap_or_default(),
        kind: string_field(type_meta, 2).unwrap_or_default(),
        raw: bytes_field(unknown, 2).unwrap_or_default().to_vec(),
    })
}

/// `metadata.name` of an object's encoding (metadata is field 1 of every object, name field 1
/// of ObjectMeta).
pub fn object_name(raw: &[u8]) -> Option<String> {
    string_field(bytes_field(raw, 1)?, 1)
}

/// An annotation of an object's encoding (ObjectMeta field 12: `map<string, string>`).
pub fn object_annotation(raw: &[u8], key: &str) -> Option<String> {
    let meta = bytes_field(raw, 1)?;
    fields(meta).into_iter().find_map(|(n, f)| match f {
        Field::Bytes(entry) if n == 12 => (string_field(entry, 1).as_deref() == Some(key))
            .then(|| string_field(entry, 2).unwrap_or_default()),
        _ => None,
    })
}

/// The JSON a `metav1.Status` encoding stands for (status, message, reason, details, code).
pub fn status_json(raw: &[u8]) -> serde_json::Value {
    let mut status = serde_json::json!({"kind": "Status", "apiVersion": "v1"});
    // Protobuf writes empty strings and zeros that JSON leaves out: leave them out too.
    for (key, number) in [("status", 2), ("message", 3), ("reason", 4)] {
        if let Some(s) = string_field(raw, number).filter(|s| !s.is_empty()) {
            status[key] = s.into();
        }
    }
    if let Some(code) = varint_field(raw, 6).filter(|c| *c != 0) {
        status["code"] = code.into();
    }
    if let Some(details) = bytes_field(raw, 5) {
        let mut d = serde_json::json!({});
        for (key, number) in [("name", 1), ("group", 2), ("kind", 3), ("uid", 6)] {
            if let Some(v) = string_field(details, number).filter(|v| !v.is_empty()) {
                d[key] = v.into();
            }
        }
        let causes: Vec<serde_json::Value> = fields(details)
            .into_iter()
            .filter_map(|(n, f)| match f {
                Field::Bytes(c) if n == 4 => Some(serde_json::json!({
                    "reason": string_field(c, 1).unwrap_or_default(),
                    "message": string_field(c, 2).unwrap_or_default(),
                    "field": string_field(c, 3).unwrap_or_default(),
                })),
                _ => None,
            })
            .collect();
        if !causes.is_empty() {
            d["causes"] = causes.into();
        }
        status["details"] = d;
    }
    status
}

/// One event of a protobuf watch frame: type and the object's envelope. Frames hold a bare
/// `metav1.WatchEvent` (the stream serializer is the raw one); its object is enveloped.
pub fn watch_event(frame: &[u8]) -> Option<(String, Envelope)> {
    let event = match envelope(frame) {
        Some(env) => env.raw,
        None => frame.to_vec(),
    };
    let kind = string_field(&event, 1)?;
    let raw_extension = bytes_field(&event, 2)?;
    let object = envelope(bytes_field(raw_extension, 1)?)?;
    Some((kind, object))
}

/// Splits complete length-prefixed frames (4-byte big-endian length) off the front of `buf`.
pub fn take_frames(buf: &mut Vec<u8>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(len) = buf
        .get(..4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    {
        if buf.len() < 4 + len {
            break;
        }
        out.push(buf[4..4 + len].to_vec());
        buf.drain(..4 + len);
    }
    out
}

/// Splits complete newline-terminated lines off the front of `buf`.
pub fn take_lines(buf: &mut Vec<u8>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
        let line: Vec<u8> = buf.drain(..=pos).collect();
        if line.iter().any(|b| !b.is_ascii_whitespace()) {
            out.push(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(number: u64, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![((number << 3) | 2) as u8, bytes.len() as u8];
        out.extend_from_slice(bytes);
        out
    }

    #[test]
    fn opens_an_envelope_and_a_watch_frame() {
        let meta = field(1, b"web");
        let object_raw = field(1, &meta);
        let type_meta = [field(1, b"apps/v1"), field(2, b"Deployment")].concat();
        let object = [MAGIC.to_vec(), field(1, &type_meta), field(2, &object_raw)].concat();
        let env = envelope(&object).unwrap();
        assert_eq!(
            (env.api_version.as_str(), env.kind.as_str()),
            ("apps/v1", "Deployment")
        );
        assert_eq!(object_name(&env.raw).as_deref(), Some("web"));
        let entry = [field(1, b"k8s.io/initial-events-end"), field(2, b"true")].concat();
        let annotated = field(1, &[field(1, b"web"), field(12, &entry)].concat());
        assert_eq!(
            object_annotation(&annotated, "k8s.io/initial-events-end").as_deref(),
            Some("true")
        );
        assert_eq!(
            object_annotation(&object_raw, "k8s.io/initial-events-end"),
            None
        );

        let event_raw = [field(1, b"ADDED"), field(2, &field(1, &object))].concat();
        let frame = [
            MAGIC.to_vec(),
            field(1, &[field(1, b"v1"), field(2, b"WatchEvent")].concat()),
            field(2, &event_raw),
        ]
        .concat();
        let mut buf = (frame.len() as u32).to_be_bytes().to_vec();
        buf.extend_from_slice(&frame);
        buf.extend_from_slice(&[0, 0]);
        let frames = take_frames(&mut buf);
        assert_eq!(frames.len(), 1);
        assert_eq!(buf, [0, 0]);
        let (kind, env) = watch_event(&frames[0]).unwrap();
        assert_eq!(kind, "ADDED");
        assert_eq!(env.kind, "Deployment");
        // As kube-apiserver frames them: the event without an envelope.
        let (kind, env) = watch_event(&event_raw).unwrap();
        assert_eq!((kind.as_str(), env.kind.as_str()), ("ADDED", "Deployment"));
    }

    #[test]
    fn reads_a_status() {
        let details = [field(1, b"x"), field(3, b"configmaps")].concat();
        let raw = [
            field(2, b"Failure"),
            field(3, b"configmaps \"x\" not found"),
            field(4, b"NotFound"),
            field(5, &details),
            vec![6 << 3, 0x94, 0x03],
        ]
        .concat();
        let s = status_json(&raw);
        assert_eq!(s["code"], 404);
        assert_eq!(s["reason"], "NotFound");
        assert_eq!(s["details"]["kind"], "configmaps");
    }
}
