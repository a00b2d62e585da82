/// Keccak-256 as used by Ethereum: the original Keccak submission with padding byte 0x01,
/// which differs from the standardised SHA3-256 (padding 0x06).
public enum Keccak256 {
    /// The 32-byte Keccak-256 digest of `data` (original Keccak padding 0x01, not SHA3-256).
    public static func hash<Bytes: Sequence>(_ data: Bytes) -> [UInt8] where Bytes.Element == UInt8 {
        // Arrays, slices and buffers take the copy-free path; other sequences are gathered once.
        if let digest = data.withContiguousStorageIfAvailable({ hash(UnsafeRawBufferPointer($0)) }) {
            return digest
        }
        return Array(data).withUnsafeBytes { hash($0) }
    }

    /// Rate of Keccak-256 in bytes (1600-bit state minus 2 × 256-bit capacity).
    static let rate = 136

    static func hash(_ input: UnsafeRawBufferPointer) -> [UInt8] {
        // The state lives on the stack so hashing allocates nothing but the result.
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: 25) { buffer in
            guard let state = buffer.baseAddress else { return [] }
            state.initialize(repeating: 0, count: 25)
            var offset = 0
            while input.count - offset >= rate {
                for lane in 0..<(rate / 8) {
                    state[lane] ^= UInt64(littleEndian: input.loadUnaligned(fromByteOffset: offset + 8 * lane, as: UInt64.self))
                }
                keccakF1600(state)
                offset += rate
            }
            // The final partial block is XORed byte by byte; shifting keeps this endian-neutral.
            let tail = input.count - offset
            for index in 0..<tail {
                state[index / 8] ^= UInt64(input[offset + index]) << (8 * UInt64(index % 8))
            }
            state[tail / 8] ^= 0x01 << (8 * UInt64(tail % 8))
            state[rate / 8 - 1] ^= 0x80 << 56
            keccakF1600(state)
            return [UInt8](unsafeUninitializedCapacity: 32) { digest, count in
                for index in 0..<32 {
                    digest[index] = UInt8(truncatingIfNeeded: state[index / 8] >> (8 * UInt64(index % 8)))
                }
                count = 32
            }
        }
    }
}

private let roundConstants: [UInt64] = [
    0x0000_0000_0000_0001, 0x0000_0000_0000_8082, 0x8000_0000_0000_808A, 0x8000_0000_8000_8000,
    0x0000_0000_0000_808B, 0x0000_0000_8000_0001, 0x8000_0000_8000_8081, 0x8000_0000_0000_8009,
    0x0000_0000_0000_008A, 0x0000_0000_0000_0088, 0x0000_0000_8000_8009, 0x0000_0000_8000_000A,
    0x0000_0000_8000_808B, 0x8000_0000_0000_008B, 0x8000_0000_0000_8089, 0x8000_0000_0000_8003,
    0x8000_0000_0000_8002, 0x8000_0000_0000_0080, 0x0000_0000_0000_800A, 0x8000_0000_8000_000A,
    0x8000_0000_8000_8081, 0x8000_0000_0000_8080, 0x0000_0000_8000_0001, 0x8000_0000_8000_8008,
]

@inline(__always)
private func rotl(_ value: UInt64, _ count: UInt64) -> UInt64 {
    (value &<< count) | (value &>> (64 &- count))
}

/// Keccak-f[1600]. Lane `a(x + 5y)` holds column x, row y. The round is fully unrolled over
/// 25 locals so the state stays in registers; θ, ρ and π are fused into the `b` lanes and
/// χ, ι write them back.
private func keccakF1600(_ state: UnsafeMutablePointer<UInt64>) {
    var a0 = state[0], a1 = state[1], a2 = state[2], a3 = state[3], a4 = state[4]
    var a5 = state[5], a6 = state[6], a7 = state[7], a8 = state[8], a9 = state[9]
    var a10 = state[10], a11 = state[11], a12 = state[12], a13 = state[13], a14 = state[14]
    var a15 = state[15], a16 = state[16], a17 = state[17], a18 = state[18], a19 = state[19]
    var a20 = state[20], a21 = state[21], a22 = state[22], a23 = state[23], a24 = state[24]
    for round in 0..<24 {
        let c0 = a0 ^ a5 ^ a10 ^ a15 ^ a20
        let c1 = a1 ^ a6 ^ a11 ^ a16 ^ a21
        let c2 = a2 ^ a7 ^ a12 ^ a17 ^ a22
        let c3 = a3 ^ a8 ^ a13 ^ a18 ^ a23
        let c4 = a4 ^ a9 ^ a14 ^ a19 ^ a24
        let d0 = c4 ^ rotl(c1, 1)
        let d1 = c0 ^ rotl(c2, 1)
        let d2 = c1 ^ rotl(c3, 1)
        let d3 = c2 ^ rotl(c4, 1)
        let d4 = c3 ^ rotl(c0, 1)
        let b0 = a0 ^ d0
        let b1 = rotl(a6 ^ d1, 44)
        let b2 = rotl(a12 ^ d2, 43)
        let b3 = rotl(a18 ^ d3, 21)
        let b4 = rotl(a24 ^ d4, 14)
        let b5 = rotl(a3 ^ d3, 28)
        let b6 = rotl(a9 ^ d4, 20)
        let b7 = rotl(a10 ^ d0, 3)
        let b8 = rotl(a16 ^ d1, 45)
        let b9 = rotl(a22 ^ d2, 61)
        let b10 = rotl(a1 ^ d1, 1)
        let b11 = rotl(a7 ^ d2, 6)
        let b12 = rotl(a13 ^ d3, 25)
        let b13 = rotl(a19 ^ d4, 8)
        let b14 = rotl(a20 ^ d0, 18)
        let b15 = rotl(a4 ^ d4, 27)
        let b16 = rotl(a5 ^ d0, 36)
        let b17 = rotl(a11 ^ d1, 10)
        let b18 = rotl(a17 ^ d2, 15)
        let b19 = rotl(a23 ^ d3, 56)
        let b20 = rotl(a2 ^ d2, 62)
        let b21 = rotl(a8 ^ d3, 55)
        let b22 = rotl(a14 ^ d4, 39)
        let b23 = rotl(a15 ^ d0, 41)
        let b24 = rotl(a21 ^ d1, 2)
        a0 = b0 ^ (~b1 & b2)
        a1 = b1 ^ (~b2 & b3)
        a2 = b2 ^ (~b3 & b4)
        a3 = b3 ^ (~b4 & b0)
        a4 = b4 ^ (~b0 & b1)
        a5 = b5 ^ (~b6 & b7)
        a6 = b6 ^ (~b7 & b8)
        a7 = b7 ^ (~b8 & b9)
        a8 = b8 ^ (~b9 & b5)
        a9 = b9 ^ (~b5 & b6)
        a10 = b10 ^ (~b11 & b12)
        a11 = b11 ^ (~b12 & b13)
        a12 = b12 ^ (~b13 & b14)
        a13 = b13 ^ (~b14 & b10)
        a14 = b14 ^ (~b10 & b11)
        a15 = b15 ^ (~b16 & b17)
        a16 = b16 ^ (~b17 & b18)
        a17 = b17 ^ (~b18 & b19)
        a18 = b18 ^ (~b19 & b15)
        a19 = b19 ^ (~b15 & b16)
        a20 = b20 ^ (~b21 & b22)
        a21 = b21 ^ (~b22 & b23)
        a22 = b22 ^ (~b23 & b24)
        a23 = b23 ^ (~b24 & b20)
        a24 = b24 ^ (~b20 & b21)
        a0 ^= roundConstants[round]
    }
    (state[0], state[1], state[2], state[3], state[4]) = (a0, a1, a2, a3, a4)
    (state[5], state[6], state[7], state[8], state[9]) = (a5, a6, a7, a8, a9)
    (state[10], state[11], state[12], state[13], state[14]) = (a10, a11, a12, a13, a14)
    (state[15], state[16], state[17], state[18], state[19]) = (a15, a16, a17, a18, a19)
    (state[20], state[21], state[22], state[23], state[24]) = (a20, a21, a22, a23, a24)
}
