/**
 * Who uploaded an S3-submitted release, as CloudTrail's record of the upload says
 * (handlers/release/uploader.ts): S3's own event names only an account, so four eyes
 * (contract/identity.ts) cannot tell the uploader from an approver until this is recorded. Part
 * of RELEASE_CHANGES (contract/lifecycle.ts), which checks it against its types; kept apart only
 * for that file's size.
 */

/** The uploader's fields of a Releases item. */
export interface UploaderFields {
  /** The upload's principal ARN (CloudTrail `userIdentity.arn`); also the release's `submittedBy`. */
  uploadedBy?: string;
  /** Its session's `sts:SourceIdentity`, when it carried one. */
  uploaderSourceIdentity?: string;
  /**
   * The object version the uploader wrote (`s3://bucket/key?versionId=…`): the uploader counts only
   * while it is the release's `source`, so a release registered again from another submission
   * (after a rejection) is not judged by an earlier upload's uploader.
   */
  uploadedFrom?: string;
}

export const UPLOADER_CHANGES = {
  recordUploader: {
    why: "CloudTrail's record of the manifest's upload names its uploader: recorded on the release registered from exactly that object version (a repeated record writes the same)",
    exists: true,
    fields: {
      submittedBy: "set",
      uploadedBy: "set",
      uploaderSourceIdentity: "setOrRemove",
      uploadedFrom: "set",
    },
    when: ["#source = :uploadedFrom"],
  },
} as const;
