//! A cap on the framing of a multipart upload (CONTRACT §7). The multipart reader
//! keeps a part's header block, and any text before the first part, in memory
//! whole until it ends: one header line of 80 MiB would be 80 MiB of memory per
//! upload. This module watches the body on its way to the reader, in step with
//! how the reader splits it, and stops the upload once a header block or the
//! preamble grows past [`MAX_PART_HEAD_BYTES`], so memory holds at most a piece
//! of the body per upload, whatever its shape.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, BodyDataStream, Bytes};
use axum::extract::multipart::MultipartRejection;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header;
use futures_util::Stream;

/// The longest header block of one part (its `Content-Disposition`,
/// `Content-Type`, …), and the longest preamble: 8 KiB, far beyond what any
/// client sends.
pub const MAX_PART_HEAD_BYTES: usize = 8 * 1024;

/// The error a capped body ends with: a part's header block (or the preamble)
/// was longer than [`MAX_PART_HEAD_BYTES`].
#[derive(Debug)]
pub struct HeadTooLong;

impl std::fmt::Display for HeadTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "a part's headers (or the text before the first part) are longer than \
             {MAX_PART_HEAD_BYTES} bytes"
        )
    }
}

impl std::error::Error for HeadTooLong {}

/// axum's multipart reader over a body whose framing is capped; after a
/// refusal, at most `LIMIT` bytes of the body (the route's limit) are drained.
pub struct CappedMultipart<const LIMIT: usize>(pub Result<Multipart, MultipartRejection>);

impl<S: Send + Sync, const LIMIT: usize> FromRequest<S> for CappedMultipart<LIMIT> {
    type Rejection = std::convert::Infallible;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let boundary = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| multer::parse_boundary(value).ok());
        // Without a boundary the reader refuses the body before reading any of it.
        let req = match boundary {
            Some(boundary) => req.map(|body| {
                Body::from_stream(Framing::new(body.into_data_stream(), &boundary, LIMIT))
            }),
            None => req,
        };
        Ok(CappedMultipart(Multipart::from_request(req, state).await))
    }
}

/// Finds a pattern in a stream fed piece by piece, keeping only the bytes that
/// could begin a match across the next piece.
struct Finder {
    pattern: Vec<u8>,
    carry: Vec<u8>,
}

impl Finder {
    fn new(pattern: &[u8]) -> Self {
        Finder {
            pattern: pattern.to_vec(),
            carry: Vec::new(),
        }
    }

    /// Where in `piece` the first match ends, if one does.
    fn feed(&mut self, piece: &[u8]) -> Option<usize> {
        let kept = self.carry.len();
        let mut joined = std::mem::take(&mut self.carry);
        joined.extend_from_slice(&piece[..piece.len().min(self.pattern.len() - 1)]);
        let end = memchr::memmem::find(&joined, &self.pattern)
            .map(|at| at + self.pattern.len() - kept)
            .or_else(|| {
                memchr::memmem::find(piece, &self.pattern).map(|at| at + self.pattern.len())
            });
        if end.is_none() {
            let tail = if piece.len() >= self.pattern.len() - 1 {
                &piece[piece.len() + 1 - self.pattern.len()..]
            } else {
                joined.drain(..joined.len().saturating_sub(self.pattern.len() - 1));
                &joined[..]
            };
            self.carry = tail.to_vec();
        }
        end
    }
}

/// Where the body is, in the reader's terms (multer 3: the first `--boundary`
/// anywhere, then after each delimiter either `--` (the end), or padding and a
/// line end followed by headers up to a blank line, then data up to
/// `CRLF--boundary`).
enum Stage {
    Preamble,
    /// Just past a delimiter: the first two bytes say whether the body ends.
    Fork(Vec<u8>),
    /// The rest of the delimiter's line.
    Line,
    Headers,
    Data,
    Epilogue,
}

struct Framing {
    inner: BodyDataStream,
    boundary: String,
    stage: Stage,
    finder: Finder,
    /// Bytes of the current preamble or header block so far.
    head: usize,
    /// Bytes read in all, so that draining after a refusal stays bounded.
    total: usize,
    /// The most bytes drained after a refusal.
    drain_limit: usize,
    refused: bool,
}

impl Framing {
    fn new(inner: BodyDataStream, boundary: &str, drain_limit: usize) -> Self {
        Framing {
            inner,
            boundary: boundary.to_owned(),
            stage: Stage::Preamble,
            finder: Finder::new(format!("--{boundary}").as_bytes()),
            head: 0,
            total: 0,
            drain_limit,
            refused: false,
        }
    }

    fn enter(&mut self, stage: Stage, pattern: &str) {
        self.stage = stage;
        self.finder = Finder::new(pattern.as_bytes());
    }

    /// Follows `piece` through the stages; `Err` once a head is too long.
    fn advance(&mut self, mut piece: &[u8]) -> Result<(), HeadTooLong> {
        while !piece.is_empty() {
            let counted = matches!(self.stage, Stage::Preamble | Stage::Line | Stage::Headers);
            let end = match &mut self.stage {
                Stage::Epilogue => return Ok(()),
                Stage::Fork(seen) => {
                    let take = (2 - seen.len()).min(piece.len());
                    seen.extend_from_slice(&piece[..take]);
                    piece = &piece[take..];
                    if seen.len() == 2 {
                        let seen = std::mem::take(seen);
                        if seen == b"--" {
                            self.stage = Stage::Epilogue;
                        } else {
                            self.enter(Stage::Line, "\r\n");
                            self.advance(&seen)?;
                        }
                    }
                    continue;
                }
                _ => self.finder.feed(piece),
            };
            let used = end.unwrap_or(piece.len());
            if counted {
                self.head += used;
                if self.head > MAX_PART_HEAD_BYTES {
                    return Err(HeadTooLong);
                }
            }
            piece = &piece[used..];
            if end.is_some() {
                self.next_stage();
            }
        }
        Ok(())
    }

    fn next_stage(&mut self) {
        match self.stage {
            Stage::Preamble | Stage::Data => {
                self.head = 0;
                self.stage = Stage::Fork(Vec::new());
            }
            Stage::Line => self.enter(Stage::Headers, "\r\n\r\n"),
            Stage::Headers => {
                let delimiter = format!("\r\n--{}", self.boundary);
                self.enter(Stage::Data, &delimiter);
            }
            Stage::Fork(_) | Stage::Epilogue => {}
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Stream for Framing {
    type Item = Result<Bytes, BoxError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            let piece = match Pin::new(&mut this.inner).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) if this.refused => {
                    this.refused = false;
                    return Poll::Ready(Some(Err(Box::new(HeadTooLong))));
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(Box::new(e)))),
                Poll::Ready(Some(Ok(piece))) => piece,
            };
            this.total += piece.len();
            if this.refused {
                // The client hears the refusal only if its body is read: drop the
                // rest, up to the route's limit.
                if this.total > this.drain_limit {
                    this.refused = false;
                    return Poll::Ready(Some(Err(Box::new(HeadTooLong))));
                }
                continue;
            }
            match this.advance(&piece) {
                Ok(()) => return Poll::Ready(Some(Ok(piece))),
                Err(HeadTooLong) => this.refused = true,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stages(body: &[&[u8]]) -> Result<(), HeadTooLong> {
        let mut framing = Framing::new(Body::empty().into_data_stream(), "b", usize::MAX);
        body.iter().try_for_each(|piece| framing.advance(piece))
    }

    #[test]
    fn a_well_formed_body_in_any_pieces_passes() {
        let body = b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nxyz\r\n--b--\r\n";
        for cut in 0..body.len() {
            assert!(stages(&[&body[..cut], &body[cut..]]).is_ok());
        }
    }

    #[test]
    fn a_long_header_line_is_refused_even_one_byte_at_a_time() {
        let mut body = b"--b\r\nX: ".to_vec();
        body.extend(std::iter::repeat_n(b'a', MAX_PART_HEAD_BYTES));
        let pieces: Vec<&[u8]> = body.chunks(1).collect();
        assert!(stages(&pieces).is_err());
    }

    #[test]
    fn data_may_be_long_but_the_next_part_s_headers_are_counted_again() {
        let mut body = b"--b\r\nA: 1\r\n\r\n".to_vec();
        body.extend(std::iter::repeat_n(b'x', 4 * MAX_PART_HEAD_BYTES));
        body.extend_from_slice(b"\r\n--b\r\n");
        assert!(stages(&[&body]).is_ok());
        body.extend(std::iter::repeat_n(b'y', MAX_PART_HEAD_BYTES + 1));
        assert!(stages(&[&body]).is_err());
    }

    #[test]
    fn a_part_without_headers_counts_its_data_as_headers_as_the_reader_does() {
        let mut body = b"--b\r\n\r\n".to_vec();
        body.extend(std::iter::repeat_n(b'x', MAX_PART_HEAD_BYTES + 1));
        assert!(stages(&[&body]).is_err());
    }

    #[test]
    fn a_long_preamble_is_refused_and_an_epilogue_is_not_counted() {
        let long = vec![b'p'; MAX_PART_HEAD_BYTES + 1];
        assert!(stages(&[&long]).is_err());
        assert!(stages(&[b"--b--\r\n", &long]).is_ok());
    }
}
