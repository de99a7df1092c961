// Shared by the metering kernels: the size parameter comes in as a little-endian u32 input.
@external("wf", "input_size") declare function input_size (): i32
@external("wf", "input_read") declare function input_read (dst: usize, offset: i32, len: i32): i32
@external("wf", "output_write") declare function output_write (src: usize, len: i32): void

export function param (): u32 {
  const buf = memory.data(8)
  input_read(buf, 0, 4)
  return load<u32>(buf)
}

export function emitU32 (v: u32): void {
  const buf = memory.data(8)
  store<u32>(buf, v)
  output_write(buf, 4)
}
