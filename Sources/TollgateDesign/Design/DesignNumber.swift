import Foundation

/// Numbers in the report: rounded to two decimals and printed without trailing zeros, the same on
/// every platform (golden files compare bytes).
public enum DesignNumber {
    /// Rounded to two decimals.
    public static func round(_ value: Double) -> Double {
        (value * 100).rounded() / 100
    }

    /// `20`, `1.67`, `0.5`.
    public static func format(_ value: Double) -> String {
        let rounded = round(value)
        if rounded == rounded.rounded(), abs(rounded) < 1e15 { return String(Int(rounded)) }
        var text = String(format: "%.2f", rounded)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }

    /// A byte count for people: `1048576 (1 MiB)`.
    public static func bytes(_ count: Int) -> String {
        let mebibyte = 1 << 20, kibibyte = 1 << 10
        if count >= mebibyte && count % mebibyte == 0 { return "\(count) (\(count / mebibyte) MiB)" }
        if count >= kibibyte && count % kibibyte == 0 { return "\(count) (\(count / kibibyte) KiB)" }
        return String(count)
    }

    /// A duration for people: `3600 s (1 h)`.
    public static func seconds(_ count: Int) -> String {
        if count >= 86_400 && count % 86_400 == 0 { return "\(count) s (\(count / 86_400) d)" }
        if count >= 3600 && count % 3600 == 0 { return "\(count) s (\(count / 3600) h)" }
        if count >= 60 && count % 60 == 0 { return "\(count) s (\(count / 60) min)" }
        return "\(count) s"
    }
}
