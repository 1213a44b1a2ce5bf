using System;
using System.Collections;
using System.Collections.Generic;
using System.Management.Automation;
using MobyDistribution.Manifests;

namespace MobyDistribution.PowerShell
{
    /// <summary>
    /// Lets an <see cref="ImageReference"/> parameter take what the module's own cmdlets write: a string is parsed,
    /// a tag, catalog entry, manifest, descriptor or image config gives the reference it carries. Anything else is left to
    /// PowerShell's binder (which then tries the parameter's property-name binding).
    /// </summary>
    /// <remarks>
    /// Without this, a catalog entry piped to Get-RegistryTag would bind its <c>Repository</c> string
    /// (<c>app</c>, no registry) by property name and silently mean <c>docker.io/library/app</c>.
    /// </remarks>
    [AttributeUsage(AttributeTargets.Field | AttributeTargets.Property)]
    public sealed class ImageReferenceTransformationAttribute : ArgumentTransformationAttribute
    {
        /// <inheritdoc />
        public override object Transform(EngineIntrinsics engineIntrinsics, object inputData)
        {
            var value = Unwrap(inputData);
            if (value is string || !(value is IEnumerable list)) return TransformOne(value) ?? inputData;

            var references = new List<ImageReference>();
            foreach (var item in list)
            {
                if (!(TransformOne(Unwrap(item)) is ImageReference r)) return inputData;
                references.Add(r);
            }
            return references.ToArray();
        }

        private static object? Unwrap(object? o) => o is PSObject p ? p.BaseObject : o;

        private static ImageReference? TransformOne(object? value)
        {
            switch (value)
            {
                case ImageReference r: return r;
                case string s:
                    try { return ImageReference.Parse(s); }
                    catch (FormatException e) { throw new ArgumentTransformationMetadataException(e.Message, e); }
                case RegistryTag t: return t.Reference;
                case RegistryRepository repo: return repo.Reference;
                case Manifest m: return m.Reference;
                case Descriptor d: return d.Source;
                case PublishedBlob b: return b.Source;
                case ImageConfig c: return c.Reference;
                case Operations.ImageReferrer referrer: return referrer.Reference;
                default: return null;
            }
        }
    }
}
