//! One object's gzip stream, compressed as its lines arrive, with no compressor of its own.
//!
//! A batch may span hundreds of event-hours; a live deflate state per hour (about 270 KB each)
//! would not fit the memory bound. So each stream is written in segments: a segment is raw
//! deflate from a freshly reset compressor, ended by a sync flush (byte-aligned, no block marked
//! final, no reference to what came before), and one compressor serves every stream in turn.
//! Concatenated, the segments are one deflate stream; with the gzip header before them and the
//! CRC-32 and length of all the lines after them, the object is one ordinary gzip member
//! (RFC 1952), the way `pigz` writes independent blocks. Readers see nothing unusual.
use flate2::{Compress, Compression, FlushCompress, Status};
use std::io;

/// The gzip header: magic, deflate, no flags, no modification time (so a redo writes the same
/// bytes), no extra flags, OS unknown.
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];

/// The one compressor that the streams of a batch take turns with.
pub struct Deflater(Compress);

impl Deflater {
    pub fn new(level: u32) -> Self {
        Deflater(Compress::new(Compression::new(level), false))
    }
}

/// Lines of one object: compressed segments so far, and the lines staged for the next one.
pub struct GzipStream {
    compressed: Vec<u8>,
    staged: Vec<u8>,
    crc: crc32fast::Hasher,
    len: u64,
    lines: usize,
}

impl Default for GzipStream {
    fn default() -> Self {
        GzipStream {
            compressed: HEADER.to_vec(),
            staged: Vec::new(),
            crc: crc32fast::Hasher::new(),
            len: 0,
            lines: 0,
        }
    }
}

impl GzipStream {
    /// Stages `line` and its newline.
    pub fn push_line(&mut self, line: &str) {
        self.staged.extend_from_slice(line.as_bytes());
        self.staged.push(b'\n');
        self.lines += 1;
    }

    pub fn lines(&self) -> usize {
        self.lines
    }

    /// Bytes of lines staged, not yet compressed.
    pub fn staged(&self) -> usize {
        self.staged.len()
    }

    /// Bytes compressed so far (the header included).
    pub fn compressed(&self) -> usize {
        self.compressed.len()
    }

    /// Compresses the staged lines into a segment; returns how many bytes that freed.
    pub fn compress_staged(&mut self, deflater: &mut Deflater) -> io::Result<usize> {
        let freed = self.staged.len();
        if freed > 0 {
            self.segment(deflater, FlushCompress::Sync)?;
        }
        Ok(freed)
    }

    /// The finished gzip object.
    pub fn finish(mut self, deflater: &mut Deflater) -> io::Result<Vec<u8>> {
        self.segment(deflater, FlushCompress::Finish)?;
        self.compressed
            .extend_from_slice(&self.crc.clone().finalize().to_le_bytes());
        // ISIZE is the length modulo 2^32 (RFC 1952).
        self.compressed
            .extend_from_slice(&(self.len as u32).to_le_bytes());
        Ok(self.compressed)
    }

    fn segment(&mut self, deflater: &mut Deflater, flush: FlushCompress) -> io::Result<()> {
        self.crc.update(&self.staged);
        self.len += self.staged.len() as u64;
        let z = &mut deflater.0;
        z.reset();
        let mut input = &self.staged[..];
        loop {
            // Compressed text is a few percent of the NDJSON: a quarter of the input, plus room
            // for the flush markers, is rarely outgrown.
            self.compressed.reserve(input.len() / 4 + 64);
            let before = z.total_in();
            let status = z
                .compress_vec(input, &mut self.compressed, flush)
                .map_err(io::Error::other)?;
            input = &input[(z.total_in() - before) as usize..];
            let room_left = self.compressed.len() < self.compressed.capacity();
            // A flush is complete once the compressor returns with output room to spare.
            let done = match flush {
                FlushCompress::Finish => status == Status::StreamEnd,
                _ => input.is_empty() && room_left,
            };
            if done {
                break;
            }
        }
        self.staged = Vec::new();
        Ok(())
    }
}
