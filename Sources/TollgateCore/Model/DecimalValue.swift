/// A JSON number literal's exact decimal value: sign, significant digits, power of ten (`1.50e2` and `150` are equal).
struct DecimalValue: Equatable {
    let negative: Bool
    let digits: [UInt8]
    let exponent: Int

    /// `text` is a JSON number literal or Swift's printing of a number (the grammar is the scanner's to check); nil when
    /// its exponent does not fit an `Int` or a character is not a digit, a sign, a point or an exponent mark.
    init?(_ text: String) {
        var bytes = Substring(text).utf8[...]
        let negative = bytes.first == UInt8(ascii: "-")
        if negative || bytes.first == UInt8(ascii: "+") { bytes = bytes.dropFirst() }
        var digits: [UInt8] = []
        digits.reserveCapacity(text.utf8.count)
        var exponent = 0
        var fraction = false
        while let byte = bytes.first, byte != UInt8(ascii: "e"), byte != UInt8(ascii: "E") {
            bytes = bytes.dropFirst()
            if byte == UInt8(ascii: ".") { fraction = true; continue }
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
            digits.append(byte)
            if fraction { exponent -= 1 }
        }
        if !bytes.isEmpty {
            guard let power = Int(String(decoding: bytes.dropFirst(), as: UTF8.self)) else { return nil }
            let (sum, overflow) = exponent.addingReportingOverflow(power)
            guard !overflow else { return nil }
            exponent = sum
        }
        // The significant digits, found by index: a literal may be long (`0.000…1` within a body's limit), so no
        // removal one digit at a time.
        guard let first = digits.firstIndex(where: { $0 != UInt8(ascii: "0") }),
              let last = digits.lastIndex(where: { $0 != UInt8(ascii: "0") })
        else {
            // Zero has one value whatever its sign or exponent.
            (self.negative, self.digits, self.exponent) = (false, [], 0)
            return
        }
        let (scaled, overflow) = exponent.addingReportingOverflow(digits.endIndex - 1 - last)
        guard !overflow else { return nil }
        self.negative = negative
        self.digits = Array(digits[first...last])
        self.exponent = scaled
    }
}
