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
        // The buffer grew by doubling: up to half of it is spare room, held until the object is
        // written (a batch that carries late events holds hundreds of them).
        self.compressed.shrink_to_fit();
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

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::GzDecoder;
    use std::io::Read;

    /// `GzDecoder` reads one gzip member only: reading all the lines back proves the object is
    /// one ordinary member, its CRC and length checked by the decoder.
    fn gunzip(object: &[u8]) -> String {
        let mut text = String::new();
        GzDecoder::new(object)
            .read_to_string(&mut text)
            .expect("a valid gzip member");
        text
    }

    fn line(stream: usize, i: usize) -> String {
        format!(r#"{{"stream":{stream},"i":{i},"text":"event number {i} of stream {stream}"}}"#)
    }

    #[test]
    fn streams_taking_turns_with_one_compressor_are_each_one_gzip_member() {
        let mut deflater = Deflater::new(6);
        let mut streams: Vec<GzipStream> = (0..3).map(|_| GzipStream::default()).collect();
        let mut want = vec![String::new(); 3];
        // Segments of every size, interleaved between the streams.
        for i in 0..2_000 {
            let s = i % 3;
            let l = line(s, i);
            streams[s].push_line(&l);
            want[s].push_str(&l);
            want[s].push('\n');
            if i % (7 + s * 50) == 0 {
                streams[s].compress_staged(&mut deflater).unwrap();
            }
        }
        for (stream, want) in streams.into_iter().zip(want) {
            assert_eq!(stream.lines(), want.lines().count());
            let object = stream.finish(&mut deflater).unwrap();
            assert!(gunzip(&object) == want, "the stream's lines, in order");
        }
    }

    #[test]
    fn a_stream_of_nothing_and_one_compressed_to_the_end_are_valid() {
        let mut deflater = Deflater::new(6);
        assert_eq!(
            gunzip(&GzipStream::default().finish(&mut deflater).unwrap()),
            ""
        );
        let mut s = GzipStream::default();
        s.push_line("only");
        s.compress_staged(&mut deflater).unwrap();
        assert_eq!(s.staged(), 0);
        assert_eq!(gunzip(&s.finish(&mut deflater).unwrap()), "only\n");
    }

    #[test]
    fn segments_compress_about_as_well_as_one_stream() {
        let mut deflater = Deflater::new(6);
        let mut segmented = GzipStream::default();
        let mut whole = flate2::write::GzEncoder::new(Vec::new(), Compression::new(6));
        for i in 0..20_000 {
            let l = line(0, i);
            segmented.push_line(&l);
            std::io::Write::write_all(&mut whole, format!("{l}\n").as_bytes()).unwrap();
            if segmented.staged() >= 256 * 1024 {
                segmented.compress_staged(&mut deflater).unwrap();
            }
        }
        let (a, b) = (
            segmented.finish(&mut deflater).unwrap().len(),
            whole.finish().unwrap().len(),
        );
        assert!(
            a as f64 <= b as f64 * 1.05,
            "segmented {a} bytes, one stream {b}"
        );
    }
}
