//! The remotedialer v0.3.0 message codec: one websocket binary message per tunnel message.
//!
//! Layout, as `message.go` in rancher/remotedialer v0.3.0 writes it:
//!
//! ```text
//! varint(id) varint(connID) varint(messageType) [varint(15000) if Data or Connect] payload...
//! ```
//!
//! Every varint is Go's *signed* varint (`binary.PutVarint`): zig-zag, then LEB128. `id` is a
//! message counter nobody reads; `connID` names the stream (0 for AddClient/RemoveClient); the
//! legacy deadline is always `15 s` in milliseconds and ignored on receipt. Payloads:
//!
//! | type | payload |
//! |---|---|
//! | Data | stream bytes |
//! | Connect | `"<proto>/<address>"` (a v0.3.0 reader keeps only the first 100 bytes) |
//! | Error | error text; exactly `EOF` means a graceful close |
//! | AddClient / RemoveClient | `"<clientKey>/<sessionKey>"` (hub peering, not used by Clusternet agents) |
//! | Pause / Resume | empty |
//!
//! This module is pure: no IO, no allocation beyond the output buffer.
//!
//! ```
//! use clusternet_tunnel::wire::{self, Message, MessageType};
//!
//! let frame = wire::encode(7, 2, MessageType::Connect, b"tcp/127.0.0.1:6443");
//! assert_eq!(&frame[..6], &[0x0e, 0x04, 0x04, 0xb0, 0xea, 0x01]);
//! let msg = Message::decode(frame).unwrap();
//! assert_eq!(msg.kind, MessageType::Connect);
//! assert_eq!(msg.connect_target(), Some(("tcp", "127.0.0.1:6443")));
//! ```

use bytes::{BufMut, Bytes, BytesMut};

/// The legacy deadline field (milliseconds) that v0.3.0 writes on Data and Connect messages:
/// `(15 * time.Second).Milliseconds()`.
pub const LEGACY_DEADLINE_MS: i64 = 15_000;

/// How many bytes of a Connect payload a remotedialer v0.3.0 reader keeps
/// (`io.LimitReader(buf, 100)`); longer `proto/address` strings would be truncated there.
pub const MAX_CONNECT_PAYLOAD: usize = 100;

/// How many bytes of an Error payload a v0.3.0 reader keeps (`message.Err`).
pub const MAX_ERROR_PAYLOAD: usize = 100;

/// The error text that means "closed gracefully" (`io.EOF.Error()`).
pub const EOF_TEXT: &str = "EOF";

/// Upper bound of an encoded header: four varints of at most 10 bytes each.
pub const MAX_HEADER_LEN: usize = 40;

/// A remotedialer message type (`messageType` in `message.go`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// 1: stream bytes.
    Data,
    /// 2: open a stream; sent by the hub (server), served by the agent (client).
    Connect,
    /// 3: close a stream; `EOF` for a graceful close, anything else is an error.
    Error,
    /// 4: hub peering: a client session became reachable through the sender.
    AddClient,
    /// 5: hub peering: a client session went away.
    RemoveClient,
    /// 6: back-pressure: stop sending Data for this connID.
    Pause,
    /// 7: back-pressure: Data may flow again.
    Resume,
    /// Any other value (e.g. 8, SyncConnections, from remotedialer ≥ v0.4). v0.3.0 ignores these.
    Unknown(i64),
}

impl MessageType {
    /// The numeric value on the wire.
    pub fn code(self) -> i64 {
        match self {
            MessageType::Data => 1,
            MessageType::Connect => 2,
            MessageType::Error => 3,
            MessageType::AddClient => 4,
            MessageType::RemoveClient => 5,
            MessageType::Pause => 6,
            MessageType::Resume => 7,
            MessageType::Unknown(v) => v,
        }
    }

    /// The type for a numeric wire value.
    pub fn from_code(code: i64) -> Self {
        match code {
            1 => MessageType::Data,
            2 => MessageType::Connect,
            3 => MessageType::Error,
            4 => MessageType::AddClient,
            5 => MessageType::RemoveClient,
            6 => MessageType::Pause,
            7 => MessageType::Resume,
            other => MessageType::Unknown(other),
        }
    }

    /// Whether the legacy deadline varint follows the type (Data and Connect only).
    pub fn has_deadline(self) -> bool {
        matches!(self, MessageType::Data | MessageType::Connect)
    }
}

/// Why a websocket message is not a valid remotedialer message. A v0.3.0 peer ends the whole
/// session on these, and so do we.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The message ended inside a varint (Go: `EOF` / `unexpected EOF`).
    #[error("truncated remotedialer message header")]
    Truncated,
    /// A varint longer than 64 bits (Go: `binary: varint overflows a 64-bit integer`).
    #[error("binary: varint overflows a 64-bit integer")]
    Overflow,
    /// A Connect payload without `/` (Go: `failed to parse connect address`).
    #[error("failed to parse connect address")]
    BadConnect,
}

/// One decoded message. `payload` is a zero-copy slice of the websocket message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Sender's message counter (informational only).
    pub id: i64,
    /// The stream this message belongs to.
    pub conn_id: i64,
    /// The message type.
    pub kind: MessageType,
    /// Everything after the header.
    pub payload: Bytes,
}

impl Message {
    /// Decode one websocket binary message.
    pub fn decode(mut frame: Bytes) -> Result<Message, DecodeError> {
        let mut pos = 0usize;
        let id = read_varint(&frame, &mut pos)?;
        let conn_id = read_varint(&frame, &mut pos)?;
        let kind = MessageType::from_code(read_varint(&frame, &mut pos)?);
        if kind.has_deadline() {
            read_varint(&frame, &mut pos)?;
        }
        let payload = frame.split_off(pos);
        if kind == MessageType::Connect && !payload.contains(&b'/') {
            return Err(DecodeError::BadConnect);
        }
        Ok(Message {
            id,
            conn_id,
            kind,
            payload,
        })
    }

    /// For a Connect message: `(proto, address)` split at the first `/`, as v0.3.0 does.
    pub fn connect_target(&self) -> Option<(&str, &str)> {
        if self.kind != MessageType::Connect {
            return None;
        }
        std::str::from_utf8(&self.payload).ok()?.split_once('/')
    }

    /// For an Error message: the error text (lossy UTF-8). `None` means `EOF`, a graceful close.
    pub fn error_text(&self) -> Option<String> {
        let text = String::from_utf8_lossy(&self.payload);
        if text == EOF_TEXT {
            None
        } else {
            Some(text.into_owned())
        }
    }
}

/// Encode a complete message (header plus payload) into one buffer.
pub fn encode(id: i64, conn_id: i64, kind: MessageType, payload: &[u8]) -> Bytes {
    let mut buf = BytesMut::with_capacity(MAX_HEADER_LEN + payload.len());
    put_header(&mut buf, id, conn_id, kind);
    buf.extend_from_slice(payload);
    buf.freeze()
}

/// Encode a Data message whose payload is the concatenation of `parts`, truncated to `limit`
/// bytes; returns the frame and the payload length taken. One allocation, one copy.
pub fn encode_data_vectored(
    id: i64,
    conn_id: i64,
    parts: &[std::io::IoSlice<'_>],
    limit: usize,
) -> (Bytes, usize) {
    let total = parts.iter().map(|p| p.len()).sum::<usize>().min(limit);
    let mut buf = BytesMut::with_capacity(MAX_HEADER_LEN + total);
    put_header(&mut buf, id, conn_id, MessageType::Data);
    let mut left = total;
    for part in parts {
        if left == 0 {
            break;
        }
        let take = part.len().min(left);
        buf.extend_from_slice(&part[..take]);
        left -= take;
    }
    (buf.freeze(), total)
}

/// Write the header of a message (with the legacy deadline where v0.3.0 writes one).
pub fn put_header(buf: &mut BytesMut, id: i64, conn_id: i64, kind: MessageType) {
    put_varint(buf, id);
    put_varint(buf, conn_id);
    put_varint(buf, kind.code());
    if kind.has_deadline() {
        put_varint(buf, LEGACY_DEADLINE_MS);
    }
}

/// Go's `binary.PutVarint`: zig-zag encode, then unsigned LEB128.
pub fn put_varint(buf: &mut BytesMut, value: i64) {
    let mut ux = (value as u64) << 1;
    if value < 0 {
        ux = !ux;
    }
    while ux >= 0x80 {
        buf.put_u8((ux as u8) | 0x80);
        ux >>= 7;
    }
    buf.put_u8(ux as u8);
}

/// Go's `binary.ReadVarint` over a byte slice, advancing `pos`.
pub fn read_varint(buf: &[u8], pos: &mut usize) -> Result<i64, DecodeError> {
    let mut ux: u64 = 0;
    let mut shift = 0u32;
    for i in 0..10 {
        let Some(&b) = buf.get(*pos) else {
            return Err(DecodeError::Truncated);
        };
        *pos += 1;
        if b < 0x80 {
            if i == 9 && b > 1 {
                return Err(DecodeError::Overflow);
            }
            ux |= u64::from(b) << shift;
            let x = (ux >> 1) as i64;
            return Ok(if ux & 1 != 0 { !x } else { x });
        }
        ux |= u64::from(b & 0x7f) << shift;
        shift += 7;
    }
    Err(DecodeError::Overflow)
}

#[cfg(test)]
mod tests {
    //! Golden bytes derived from remotedialer v0.3.0 `message.go` (`header`, `Bytes`,
    //! `newServerMessage`) and Go's `encoding/binary` varint functions; checked against
    //! output of that code compiled with Go.
    use super::*;

    fn varint(v: i64) -> Vec<u8> {
        let mut b = BytesMut::new();
        put_varint(&mut b, v);
        b.to_vec()
    }

    #[test]
    fn go_varint_golden() {
        // binary.PutVarint results.
        assert_eq!(varint(0), [0x00]);
        assert_eq!(varint(1), [0x02]);
        assert_eq!(varint(-1), [0x01]);
        assert_eq!(varint(2), [0x04]);
        assert_eq!(varint(63), [0x7e]);
        assert_eq!(varint(64), [0x80, 0x01]);
        assert_eq!(varint(-64), [0x7f]);
        assert_eq!(varint(-65), [0x81, 0x01]);
        assert_eq!(varint(15_000), [0xb0, 0xea, 0x01]);
        assert_eq!(
            varint(i64::MAX),
            [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        );
        assert_eq!(
            varint(i64::MIN),
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        );
        for v in [0, 1, -1, 300, -300, i64::MAX, i64::MIN, 15_000, 1 << 40] {
            let enc = varint(v);
            let mut pos = 0;
            assert_eq!(read_varint(&enc, &mut pos), Ok(v));
            assert_eq!(pos, enc.len());
        }
    }

    #[test]
    fn varint_errors_match_go() {
        let mut pos = 0;
        assert_eq!(read_varint(&[], &mut pos), Err(DecodeError::Truncated));
        let mut pos = 0;
        assert_eq!(read_varint(&[0x80], &mut pos), Err(DecodeError::Truncated));
        // 10th byte > 1 overflows, as in Go's ReadUvarint.
        let mut pos = 0;
        let over = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert_eq!(read_varint(&over, &mut pos), Err(DecodeError::Overflow));
        let mut pos = 0;
        let long = [0x80; 11];
        assert_eq!(read_varint(&long, &mut pos), Err(DecodeError::Overflow));
    }

    /// Each message type as `(*message).Bytes()` writes it in v0.3.0, with id=5, connID=2.
    #[test]
    fn golden_every_message_type() {
        let cases: Vec<(MessageType, &[u8], Vec<u8>)> = vec![
            (
                MessageType::Data,
                b"hi",
                vec![0x0a, 0x04, 0x02, 0xb0, 0xea, 0x01, b'h', b'i'],
            ),
            (
                MessageType::Connect,
                b"tcp/127.0.0.1:6443",
                [
                    &[0x0a, 0x04, 0x04, 0xb0, 0xea, 0x01][..],
                    b"tcp/127.0.0.1:6443",
                ]
                .concat(),
            ),
            (
                MessageType::Error,
                b"EOF",
                vec![0x0a, 0x04, 0x06, b'E', b'O', b'F'],
            ),
            (MessageType::Pause, b"", vec![0x0a, 0x04, 0x0c]),
            (MessageType::Resume, b"", vec![0x0a, 0x04, 0x0e]),
        ];
        for (kind, payload, want) in cases {
            let got = encode(5, 2, kind, payload);
            assert_eq!(got.as_ref(), want.as_slice(), "{kind:?}");
            let back = Message::decode(got).unwrap();
            assert_eq!(back.id, 5);
            assert_eq!(back.conn_id, 2);
            assert_eq!(back.kind, kind);
            assert_eq!(back.payload.as_ref(), payload);
        }
        // AddClient / RemoveClient carry connID 0 and "clientKey/sessionKey".
        let add = encode(5, 0, MessageType::AddClient, b"c1/42");
        assert_eq!(add.as_ref(), [&[0x0a, 0x00, 0x08][..], b"c1/42"].concat());
        let rm = encode(5, 0, MessageType::RemoveClient, b"c1/42");
        assert_eq!(rm.as_ref(), [&[0x0a, 0x00, 0x0a][..], b"c1/42"].concat());
        assert_eq!(Message::decode(rm).unwrap().kind, MessageType::RemoveClient);
    }

    /// A Go id is a random int63 plus a counter, so it is usually a 9-byte varint; negative
    /// connIDs never occur but must round-trip as Go would.
    #[test]
    fn golden_large_ids() {
        let got = encode(0x3fff_ffff_ffff_ffff, -3, MessageType::Data, &[0xde, 0xad]);
        let want = [
            0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, // id
            0x05, // connID -3
            0x02, 0xb0, 0xea, 0x01, // Data + deadline
            0xde, 0xad,
        ];
        assert_eq!(got.as_ref(), want);
        let m = Message::decode(got).unwrap();
        assert_eq!(m.id, 0x3fff_ffff_ffff_ffff);
        assert_eq!(m.conn_id, -3);
    }

    #[test]
    fn decode_helpers() {
        let eof = Message::decode(encode(1, 3, MessageType::Error, b"EOF")).unwrap();
        assert_eq!(eof.error_text(), None);
        let err = Message::decode(encode(1, 3, MessageType::Error, b"dial tcp: refused")).unwrap();
        assert_eq!(err.error_text().as_deref(), Some("dial tcp: refused"));
        // An address may itself contain '/': split at the first one only (strings.SplitN(.., 2)).
        let c = Message::decode(encode(1, 3, MessageType::Connect, b"unix//run/x.sock")).unwrap();
        assert_eq!(c.connect_target(), Some(("unix", "/run/x.sock")));
    }

    #[test]
    fn decode_rejects_what_go_rejects() {
        // Header cut short.
        assert_eq!(
            Message::decode(Bytes::from_static(&[0x0a, 0x04])),
            Err(DecodeError::Truncated)
        );
        // Data without the legacy deadline.
        assert_eq!(
            Message::decode(Bytes::from_static(&[0x0a, 0x04, 0x02])),
            Err(DecodeError::Truncated)
        );
        // Connect without '/'.
        assert_eq!(
            Message::decode(encode(1, 2, MessageType::Connect, b"nohost")),
            Err(DecodeError::BadConnect)
        );
        // Unknown types have no deadline and are passed through (v0.3.0 ignores them).
        let m = Message::decode(Bytes::from_static(&[0x0a, 0x04, 0x10, 0x01])).unwrap();
        assert_eq!(m.kind, MessageType::Unknown(8));
        assert_eq!(m.payload.as_ref(), [0x01]);
    }

    #[test]
    fn vectored_data_is_one_frame() {
        let parts = [std::io::IoSlice::new(b"ab"), std::io::IoSlice::new(b"cdef")];
        let (frame, n) = encode_data_vectored(1, 2, &parts, 5);
        assert_eq!(n, 5);
        assert_eq!(
            frame.as_ref(),
            [&[0x02, 0x04, 0x02, 0xb0, 0xea, 0x01][..], b"abcde"].concat()
        );
    }
}
