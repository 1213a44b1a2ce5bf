using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;

namespace MobyDistribution.PowerShell.Commands
{
    /// <summary>
    /// The config fields that Add-ImageLayer and Set-ImageConfig both set, declared once so that they keep the same names,
    /// types and meaning (what each does to the config is Core's <c>ImageConfigChanges</c>).
    /// </summary>
    public abstract class ImageConfigCmdletBase : RegistryRequestCmdletBase
    {
        /// <summary>
        /// <para type="description">Labels to set (added, or replacing one of the same name in its place).</para>
        /// </summary>
        [Parameter]
        [ValidateNotNull]
        public Hashtable? Label { get; set; }

        /// <summary>
        /// <para type="description">Environment variables to set, as NAME=value (a variable of the same name is replaced in its place).</para>
        /// </summary>
        [Parameter]
        [ValidateNotNull]
        public string[]? Environment { get; set; }

        /// <summary>
        /// <para type="description">The entrypoint, as an argument list.</para>
        /// </summary>
        [Parameter]
        [ValidateNotNull]
        public string[]? Entrypoint { get; set; }

        /// <summary>
        /// <para type="description">The command (docker's CMD), as an argument list.</para>
        /// </summary>
        [Parameter]
        [ValidateNotNull]
        public string[]? Command { get; set; }

        /// <summary>
        /// <para type="description">The working directory of containers run from the image.</para>
        /// </summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        public string? WorkingDirectory { get; set; }

        /// <summary>
        /// <para type="description">The time recorded as the image's created (written in UTC).</para>
        /// </summary>
        [Parameter]
        public DateTimeOffset Created { get; set; }

        /// <summary>-Created when it was given, else null (the cmdlet's own default applies).</summary>
        protected DateTimeOffset? CreatedIfGiven => MyInvocation.BoundParameters.ContainsKey(nameof(Created)) ? Created : (DateTimeOffset?)null;

        /// <summary>A hashtable parameter (-Label, -Annotation) as the string dictionary Core takes; null stays null.</summary>
        protected static Dictionary<string, string>? ToDictionary(Hashtable? table) =>
            table?.Cast<DictionaryEntry>().ToDictionary(e => e.Key.ToString()!, e => e.Value?.ToString() ?? string.Empty);
    }
}
