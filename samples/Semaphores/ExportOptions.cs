namespace Semaphores;

/// <summary>The <c>Exports</c> section: who this instance is, what it exports, and where it records its runs.</summary>
public sealed class ExportOptions
{
    /// <summary>This instance's name in the records.</summary>
    public string Instance { get; set; } = "a";

    /// <summary>The tenant whose exports this instance runs: the semaphore's prefix is <c>exports/{tenant}</c>.</summary>
    public string Tenant { get; set; } = "acme";

    /// <summary>How many exports this instance starts, all at once.</summary>
    public int Jobs { get; set; } = 6;

    /// <summary>How long one export works, in seconds.</summary>
    public double JobLength { get; set; } = 1;

    /// <summary>The records folder every instance shares (each writes a file of its own); the verdict reads it.</summary>
    public string Records { get; set; } = "semaphores-records";
}
