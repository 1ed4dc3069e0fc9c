namespace RunnerBackends.Docker;

/// <summary>
/// The image a container was to be created from is not present on the Docker engine. Nothing was created.
/// The library never pulls: pull or build the image (for example <c>docker pull &lt;image&gt;</c>) before starting runners.
/// </summary>
public sealed class RunnerImageNotFoundException : RunnerBackendException
{
    /// <summary>Initializes a new instance of the <see cref="RunnerImageNotFoundException"/> class.</summary>
    /// <param name="image">The missing image reference.</param>
    /// <param name="innerException">The engine's error.</param>
    public RunnerImageNotFoundException(string image, Exception? innerException)
        : base($"Docker image '{image}' is not present on the engine. Pull it (docker pull {image}) or build it before starting runners.", innerException)
    {
        Image = image;
    }

    /// <summary>Gets the missing image reference.</summary>
    public string Image { get; }
}
