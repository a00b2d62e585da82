/// How the upstream compares the letters of a path, and so how routes must match them.
///
/// A route table with a literal `/reports/premium` followed by a cheaper `/reports/*` prices `/reports/PREMIUM` at the
/// wildcard's price when matched exactly; a backend that ignores case (Express by default, ASP.NET, IIS) then serves the
/// premium report for it. Which backend sits behind the gateway is the operator's knowledge, so the default refuses the
/// one kind of request whose price depends on it.
public enum PathCase: String, Sendable, Hashable, CaseIterable {
    /// The upstream compares paths exactly (nginx, Go, most frameworks): routes match exactly.
    case sensitive
    /// The upstream ignores letter case: routes' literal segments match whatever the case.
    case insensitive
    /// Not stated: routes match exactly, and a request whose letter case alone decides its route (another route matches
    /// it when case is ignored) is refused 400 `ambiguous_path`.
    case unknown

    /// Whether two path segments, percent-decoded, are the same text ignoring case, as the common comparisons would find
    /// (they compare one code unit at a time): per character, equal when their lowercase or uppercase forms agree, or,
    /// for a character of one scalar, the first scalar of those forms does or the lowercase of its uppercase (Java's
    /// `equalsIgnoreCase` lowercases `İ` to `i` and compares `toLowerCase(toUpperCase(c))`, .NET's ordinal comparison
    /// uppercases `ı` and `ſ` to `I` and `S`, and the Kelvin sign lowercases to `k`). A character with combining marks
    /// folds only as a whole (`é` written `e` and U+0301 is never `e`). A few more pairs read as equal (`ß` and `s`,
    /// through the first letter of `SS`) are the lesser risk: they make a literal route, usually the dearer one, match
    /// more.
    static func equalIgnoringCase(_ left: some StringProtocol, _ right: some StringProtocol) -> Bool {
        if left.utf8.allSatisfy({ $0 < 0x80 }) && right.utf8.allSatisfy({ $0 < 0x80 }) {
            guard left.utf8.count == right.utf8.count else { return false }
            return zip(left.utf8, right.utf8).allSatisfy { asciiLowercase($0) == asciiLowercase($1) }
        }
        guard left.count == right.count else { return false }
        return zip(left, right).allSatisfy { one, other in
            if one == other { return true }
            guard one.unicodeScalars.count == 1, other.unicodeScalars.count == 1 else {
                return one.lowercased() == other.lowercased() || one.uppercased() == other.uppercased()
            }
            return !foldings(one).isDisjoint(with: foldings(other))
        }
    }

    private static func asciiLowercase(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
    }

    /// The case forms of a one-scalar character.
    private static func foldings(_ character: Character) -> Set<String> {
        let lower = character.lowercased(), upper = character.uppercased()
        var forms: Set<String> = [lower, upper, upper.lowercased()]
        if let first = lower.unicodeScalars.first { forms.insert(String(first)) }
        if let first = upper.unicodeScalars.first { forms.insert(String(first)) }
        return forms
    }
}
