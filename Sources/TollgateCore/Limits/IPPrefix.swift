/// Reduces an IP address to its network prefix, so one host cannot dodge a limit by rotating
/// addresses inside its own allocation.
public enum IPPrefix {
    /// `address` reduced to its first `ipv4Bits` or `ipv6Bits` bits, as `203.0.113.0/24` or `2001:db8::/64`.
    /// An IPv4 client seen through an IPv6 socket (`::ffff:203.0.113.7`) is counted as the IPv4 address it is.
    public static func of(_ address: String, ipv4Bits: Int, ipv6Bits: Int) -> String {
        if let v4 = ipv4(address) ?? ipv6(address).flatMap(mappedIPv4) {
            let bits = min(32, max(0, ipv4Bits))
            let mask: UInt32 = bits == 0 ? 0 : ~UInt32(0) << (32 - bits)
            let masked = v4 & mask
            return "\(masked >> 24).\(masked >> 16 & 255).\(masked >> 8 & 255).\(masked & 255)/\(bits)"
        }
        if let v6 = ipv6(address) {
            let bits = min(128, max(0, ipv6Bits))
            var groups = v6
            for index in 0..<8 {
                let keep = max(0, min(16, bits - index * 16))
                groups[index] &= keep == 0 ? 0 : ~UInt16(0) << (16 - keep)
            }
            return groups.map { String($0, radix: 16) }.joined(separator: ":") + "/\(bits)"
        }
        return address
    }

    /// Four decimal octets, each 0–255 (leading zeros allowed), read from the bytes without splitting the text.
    static func ipv4(_ text: String) -> UInt32? {
        var value: UInt32 = 0, octet: UInt32 = 0, digits = 0, dots = 0
        for byte in text.utf8 {
            if byte == UInt8(ascii: ".") {
                guard digits > 0, dots < 3 else { return nil }
                value = value << 8 | octet
                octet = 0
                digits = 0
                dots += 1
            } else if byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
                octet = octet * 10 + UInt32(byte - UInt8(ascii: "0"))
                digits += 1
                guard octet <= 255 else { return nil }
            } else {
                return nil
            }
        }
        guard digits > 0, dots == 3 else { return nil }
        return value << 8 | octet
    }

    /// The IPv4 address an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) carries.
    static func mappedIPv4(_ groups: [UInt16]) -> UInt32? {
        guard groups.count == 8, groups[0..<5].allSatisfy({ $0 == 0 }), groups[5] == 0xffff else { return nil }
        return UInt32(groups[6]) << 16 | UInt32(groups[7])
    }

    /// Eight groups; the last 32 bits may be written as a dotted quad (`::ffff:192.0.2.1`, RFC 4291 §2.2).
    static func ipv6(_ text: String) -> [UInt16]? {
        var text = Substring(text)
        if let percent = text.firstIndex(of: "%") { text = text[..<percent] }
        let halves = text.split(separator: "::", maxSplits: 1, omittingEmptySubsequences: false)
        /// `endsAddress`: this part ends the address, where the last 32 bits may be a dotted quad.
        func groups(_ part: Substring, endsAddress: Bool) -> [UInt16]? {
            guard !part.isEmpty else { return [] }
            var result: [UInt16] = []
            let parts = part.split(separator: ":", omittingEmptySubsequences: false)
            for (index, group) in parts.enumerated() {
                if endsAddress, index == parts.count - 1, group.contains("."), let v4 = ipv4(String(group)) {
                    result += [UInt16(v4 >> 16), UInt16(v4 & 0xffff)]
                    continue
                }
                guard group.count <= 4, let value = UInt16(group, radix: 16) else { return nil }
                result.append(value)
            }
            return result
        }
        guard let head = groups(halves[0], endsAddress: halves.count == 1) else { return nil }
        if halves.count == 1 { return head.count == 8 ? head : nil }
        guard let tail = groups(halves[1], endsAddress: true), head.count + tail.count < 8 else { return nil }
        return head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail
    }
}
