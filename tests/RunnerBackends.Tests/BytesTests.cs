namespace RunnerBackends.Tests;

public class BytesTests
{
    [Theory]
    [InlineData(0UL, "0 B")]
    [InlineData(512UL, "512 B")]
    [InlineData(1023UL, "1023 B")]
    [InlineData(1024UL, "1.0 KiB")]
    [InlineData(1536UL, "1.5 KiB")]
    [InlineData(1572864UL, "1.5 MiB")]
    [InlineData(2147483648UL, "2.0 GiB")]
    [InlineData(1099511627776UL, "1.0 TiB")]
    [InlineData(1125899906842624UL, "1.0 PiB")]
    [InlineData(1152921504606846976UL, "1.0 EiB")]
    [InlineData(ulong.MaxValue, "16.0 EiB")]
    public void Format_Value_MatchesSeedFormatting(ulong bytes, string expected)
    {
        Bytes.Format(bytes).Should().Be(expected);
    }

    [Fact]
    public void Format_UnderAnotherCulture_UsesInvariantDecimalPoint()
    {
        var previous = System.Globalization.CultureInfo.CurrentCulture;
        try
        {
            System.Globalization.CultureInfo.CurrentCulture = new System.Globalization.CultureInfo("de-DE");
            Bytes.Format(1536).Should().Be("1.5 KiB");
        }
        finally
        {
            System.Globalization.CultureInfo.CurrentCulture = previous;
        }
    }
}
