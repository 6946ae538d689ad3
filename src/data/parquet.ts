import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, type FileMetaData } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { UserError } from '../errors.js';

/**
 * Parquet corpora (the format most downloaded datasets come in) through hyparquet, a maintained
 * pure-JavaScript reader, with hyparquet-compressors for the codecs beyond snappy (gzip, zstd,
 * brotli, lz4). One column of one row group is held at a time, so memory stays bounded by the
 * file's row-group size, not the file's.
 */
export interface ParquetText {
  row: number;
  text: unknown;
}

async function metadataOf(path: string): Promise<FileMetaData> {
  return parquetMetadataAsync(await asyncBufferFromFile(path));
}

/** Why a file is not a readable Parquet file with the text column, or undefined when it is. */
export async function checkParquetFile(path: string, field: string): Promise<string | undefined> {
  let metadata: FileMetaData;
  try {
    metadata = await metadataOf(path);
  } catch (error) {
    return `not a Parquet file (${(error as Error).message.split('\n')[0]})`;
  }
  const columns = metadata.schema.slice(1).map((element) => element.name);
  if (!columns.includes(field))
    return `no column "${field}" (columns: ${columns.join(', ')}); choose it with --text-field`;
  return undefined;
}

/** The text column's values in row order, one row group at a time; `onRows` hears each group's share of the file. */
export async function* parquetTexts(
  path: string,
  field: string,
  onShare?: (fraction: number) => void,
): AsyncGenerator<ParquetText> {
  const file = await asyncBufferFromFile(path);
  const metadata = await parquetMetadataAsync(file);
  const total = Number(metadata.num_rows) || 1;
  let rowStart = 0;
  for (const group of metadata.row_groups) {
    const rowEnd = rowStart + Number(group.num_rows);
    let rows: Record<string, unknown>[];
    try {
      rows = await parquetReadObjects({ file, metadata, columns: [field], rowStart, rowEnd, compressors });
    } catch (error) {
      throw new UserError(`${path}: damaged Parquet data in rows ${rowStart}–${rowEnd} (${(error as Error).message})`);
    }
    for (const [offset, row] of rows.entries()) yield { row: rowStart + offset, text: row[field] };
    onShare?.((rowEnd - rowStart) / total);
    rowStart = rowEnd;
  }
}
