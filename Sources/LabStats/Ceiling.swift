import LabModel

/// Where a confidence interval lies against a ceiling (a target such as
/// "at most 2 × the floor"): the verdict of a target is read from the
/// interval, never from the median alone.
public enum Ceiling {
    public enum Position: String, Sendable, Equatable {
        /// The whole interval is at or below the ceiling: the target is met.
        case below
        /// The interval contains the ceiling: the data cannot tell.
        case straddles
        /// The whole interval is above the ceiling: the target is not met.
        case above
    }

    public static func position(of interval: Interval, against ceiling: Double) -> Position {
        if interval.upper <= ceiling { return .below }
        if interval.lower > ceiling { return .above }
        return .straddles
    }
}
