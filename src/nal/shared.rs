//! One [`NalStack`](super::NalStack) for several threads (host only).

use std::sync::{Mutex, MutexGuard};

use embedded_nal::{nb, TcpClientStack, TcpFullStack, UdpClientStack, UdpFullStack};

/// A stack behind a [`Mutex`], usable from several threads at once: each call locks the stack
/// for its duration, and a call that would block yields the thread so the others get their
/// turn. On the host, this lets a server and its client, each written as a blocking program
/// (`nb::block!`), run on one smolsock stack as they would on the kernel's.
#[derive(Debug)]
pub struct Shared<'m, T>(pub &'m Mutex<T>);

impl<T> Clone for Shared<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Shared<'_, T> {}

impl<T> Shared<'_, T> {
    /// The stack itself, for what the traits do not cover (`NalStack::poll`, ...), until the
    /// guard drops.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        // A thread that panicked holding the lock left the stack consistent between calls.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Yield when the call would block, so a spinning `nb::block!` lets the other threads in.
fn yielding<T, E>(r: nb::Result<T, E>) -> nb::Result<T, E> {
    if matches!(r, Err(nb::Error::WouldBlock)) {
        std::thread::yield_now();
    }
    r
}

impl<T: TcpClientStack> TcpClientStack for Shared<'_, T> {
    type TcpSocket = T::TcpSocket;
    type Error = T::Error;

    fn socket(&mut self) -> Result<Self::TcpSocket, Self::Error> {
        self.lock().socket()
    }

    fn connect(
        &mut self,
        socket: &mut Self::TcpSocket,
        remote: core::net::SocketAddr,
    ) -> nb::Result<(), Self::Error> {
        let r = self.lock().connect(socket, remote);
        yielding(r)
    }

    fn send(
        &mut self,
        socket: &mut Self::TcpSocket,
        buffer: &[u8],
    ) -> nb::Result<usize, Self::Error> {
        let r = self.lock().send(socket, buffer);
        yielding(r)
    }

    fn receive(
        &mut self,
        socket: &mut Self::TcpSocket,
        buffer: &mut [u8],
    ) -> nb::Result<usize, Self::Error> {
        let r = self.lock().receive(socket, buffer);
        yielding(r)
    }

    fn close(&mut self, socket: Self::TcpSocket) -> Result<(), Self::Error> {
        self.lock().close(socket)
    }
}

impl<T: TcpFullStack> TcpFullStack for Shared<'_, T> {
    fn bind(&mut self, socket: &mut Self::TcpSocket, local_port: u16) -> Result<(), Self::Error> {
        self.lock().bind(socket, local_port)
    }

    fn listen(&mut self, socket: &mut Self::TcpSocket) -> Result<(), Self::Error> {
        self.lock().listen(socket)
    }

    fn accept(
        &mut self,
        socket: &mut Self::TcpSocket,
    ) -> nb::Result<(Self::TcpSocket, core::net::SocketAddr), Self::Error> {
        let r = self.lock().accept(socket);
        yielding(r)
    }
}

impl<T: UdpClientStack> UdpClientStack for Shared<'_, T> {
    type UdpSocket = T::UdpSocket;
    type Error = T::Error;

    fn socket(&mut self) -> Result<Self::UdpSocket, Self::Error> {
        self.lock().socket()
    }

    fn connect(
        &mut self,
        socket: &mut Self::UdpSocket,
        remote: core::net::SocketAddr,
    ) -> Result<(), Self::Error> {
        self.lock().connect(socket, remote)
    }

    fn send(&mut self, socket: &mut Self::UdpSocket, buffer: &[u8]) -> nb::Result<(), Self::Error> {
        let r = self.lock().send(socket, buffer);
        yielding(r)
    }

    fn receive(
        &mut self,
        socket: &mut Self::UdpSocket,
        buffer: &mut [u8],
    ) -> nb::Result<(usize, core::net::SocketAddr), Self::Error> {
        let r = self.lock().receive(socket, buffer);
        yielding(r)
    }

    fn close(&mut self, socket: Self::UdpSocket) -> Result<(), Self::Error> {
        self.lock().close(socket)
    }
}

impl<T: UdpFullStack> UdpFullStack for Shared<'_, T> {
    fn bind(&mut self, socket: &mut Self::UdpSocket, local_port: u16) -> Result<(), Self::Error> {
        self.lock().bind(socket, local_port)
    }

    fn send_to(
        &mut self,
        socket: &mut Self::UdpSocket,
        remote: core::net::SocketAddr,
        buffer: &[u8],
    ) -> nb::Result<(), Self::Error> {
        let r = self.lock().send_to(socket, remote, buffer);
        yielding(r)
    }
}
