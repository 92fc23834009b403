/// The lab's version, recorded in every result.
public enum LabVersion {
    public static let current = "0.1.0"
}
